"""``run_command``: a shell command in the worktree sandbox, its result as text for the model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.errors import ToolError
from harness.git import integrity
from harness.sandbox.bwrap import Sandbox


class CommandTool:
    def __init__(self, sandbox: Sandbox, timeout_s: float = 120.0) -> None:
        self.sandbox, self.timeout_s = sandbox, timeout_s

    def run_command(self, data: dict[str, Any]) -> str:
        command = data.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ToolError("command must be a non-empty string")
        result = self.sandbox.run(command, timeout_s=self.timeout_s)
        integrity.verify_all()  # git's configuration outside the worktree is as it was
        return f"exit code {result.exit_code}\n{result.output}"

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], str]]:
        return {"run_command": self.run_command}
