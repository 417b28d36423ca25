"""``run_command`` and ``run_tests``: shell commands in the worktree sandbox, each result as
text for the model, each with its time limit (docs/testing.md, "The agents' tests and
commands"); ``run_tests`` shows the end of its output, where test runners put their summary,
led by the ids of the tests that failed. Asked for no tests, it runs the tests the change
touches first (those that failed last, those the plan names), then the whole suite."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.config.models import Commands
from harness.config.testfiles import clipped, failing_tests, test_files
from harness.errors import ToolError
from harness.faults import fault_point
from harness.model.blocks import Handler
from harness.model.tools import Tool, by_name
from harness.sandbox.bwrap import Sandbox

MAX_TEST_TAIL = 15_000  # characters of the tests' output shown: their end


@dataclass(frozen=True)
class RunCommand:
    command: str


@dataclass(frozen=True)
class RunTests:
    tests: Sequence[str] = ()  # none: those the change touches first, then the whole suite


@dataclass(frozen=True)
class CommandTool:
    """``first``: the tests run first when none are asked for — those the change touches,
    then after each run those that failed in it (none: the whole suite next); ``counted``
    hears of each run of ``run_tests`` (True: the whole suite)."""

    sandbox: Sandbox
    commands: Commands
    first: list[str]
    counted: Callable[[bool], None]

    def run_command(self, data: RunCommand) -> str:
        if not data.command.strip():
            raise ToolError("command must be a non-empty string")
        fault_point("tools.run_command")  # crash tests: an agent's edits made, its step unfinished
        limit = self.commands.command_timeout_s
        result = self.sandbox.run(data.command, timeout_s=limit)
        note = ""
        if result.limit_hit == "time":
            note = (
                f"\n[stopped after {limit:.0f} s, one command's limit "
                "(commands.command_timeout_s); run the project's tests with run_tests, whole "
                "or given the test files or ids]"
            )
        return f"exit code {result.exit_code}\n{clipped(result.output, MAX_TEST_TAIL)}{note}"

    def run_tests(self, data: RunTests) -> str:
        touched = [] if data.tests else list(self.first)
        chosen = test_files(self.commands, data.tests or touched)
        command = chosen or self.commands.test
        timeout = self.commands.test_timeout_s
        self.counted(chosen is None)
        result = self.sandbox.run(command, timeout_s=timeout)
        self.first[:] = failing_tests(result.output) if result.exit_code else []
        head = f"`{command}` exited {result.exit_code}"
        if data.tests and chosen is None:
            head += " (the whole suite: no commands.test_files template fits commands.test)"
        if touched and chosen:
            head += " (the tests this change touches, first; once they pass, the whole suite)"
        if result.limit_hit:
            head += f" (stopped at the {result.limit_hit} limit"
            head += f" of {timeout:.0f} s)" if result.limit_hit == "time" else ")"
        return f"{head}\n{clipped(result.output, MAX_TEST_TAIL)}"

    def handlers(self) -> dict[str, Handler]:
        return by_name(
            Tool("run_command", RunCommand, self.run_command),
            Tool("run_tests", RunTests, self.run_tests),
        )
