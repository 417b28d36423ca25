"""``run_command`` and ``run_tests``: shell commands in the worktree sandbox, each result as
text for the model. ``run_command`` runs what the agent asks within one command's time
(``commands.command_timeout_s``); ``run_tests`` runs the project's own ``commands.test``
within the test suite's (``commands.test_timeout_s``), so a suite that takes minutes can be
run whole, and shows the end of its output, where test runners put their summary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.errors import ToolError
from harness.sandbox.bwrap import Sandbox

MAX_TEST_TAIL = 15_000  # characters of the tests' output shown: their end


class CommandTool:
    def __init__(
        self,
        sandbox: Sandbox,
        timeout_s: float = 120.0,
        test_command: str | None = None,
        test_timeout_s: float = 900.0,
    ) -> None:
        self.sandbox, self.timeout_s = sandbox, timeout_s
        self.test_command, self.test_timeout_s = test_command, test_timeout_s

    def run_command(self, data: dict[str, Any]) -> str:
        command = data.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ToolError("command must be a non-empty string")
        result = self.sandbox.run(command, timeout_s=self.timeout_s)
        note = ""
        if result.limit_hit == "time":
            note = (
                f"\n[stopped after {self.timeout_s:.0f} s, one command's limit "
                "(commands.command_timeout_s); run the project's test suite with run_tests]"
            )
        return f"exit code {result.exit_code}\n{result.output}{note}"

    def run_tests(self, data: dict[str, Any]) -> str:
        if not self.test_command:
            raise ToolError("no test command is configured (commands.test)")
        result = self.sandbox.run(self.test_command, timeout_s=self.test_timeout_s)
        head = f"`{self.test_command}` exited {result.exit_code}"
        if result.limit_hit:
            head += f" (stopped at the {result.limit_hit} limit"
            head += f" of {self.test_timeout_s:.0f} s)" if result.limit_hit == "time" else ")"
        output = result.output
        if len(output) > MAX_TEST_TAIL:
            cut = len(output) - MAX_TEST_TAIL
            output = (
                f"[the first {cut:,} characters of the output are not shown]\n" + (output[cut:])
            )
        return f"{head}\n{output}"

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], str]]:
        return {"run_command": self.run_command, "run_tests": self.run_tests}
