"""Running the real ``factory`` entry point in-process and reading what it printed."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        try:
            return json.loads(self.out)
        except json.JSONDecodeError:  # say what the command said instead
            raise AssertionError(f"exit {self.code}, no JSON; stderr: {self.err[-2000:]}") from None


def use_actions(monkeypatch: pytest.MonkeyPatch, *functions: Any) -> None:
    """Put the test's own ``@action`` functions in the process's action table for one test."""
    from harness.engine.actions import actions, declared

    table = actions()
    for fn in functions:
        info = declared(fn)
        assert info is not None, f"{fn} is not marked with @action"
        monkeypatch.setitem(table.functions, info.name, fn)
        monkeypatch.setitem(table.declared, info.name, info)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return Result(code, out, err)


def repo_cli(capsys: pytest.CaptureFixture[str], repo: Path) -> Callable[..., Result]:
    """``factory --repo REPO ARGS`` in this process, as ``cli(*ARGS)``."""
    return functools.partial(run_cli, capsys, "--repo", str(repo))


def spawn(repo: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """The real console entry point in a process of its own (for kill -9 and race tests)."""
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "--repo", str(repo), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
