"""Running the real ``factory`` entry point, in-process or in a process of its own, and reading
what it printed."""

from __future__ import annotations

import atexit
import functools
import json
import multiprocessing
import multiprocessing.process
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.engine.actions import PROVIDERS


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


# What a spawned factory has imported before it starts: the entry point, the cycle and the
# model client (the SDK alone costs about a second of CPU per interpreter); the modules of the
# action table, which its first step loads (Playwright's client and the sandbox's with them);
# and what each command loads on first use (the HTTP stack the client opens its first request
# with, the schemas a tool's input is checked by, mission.md's parser, the tables a command
# prints, the GitHub forge's client and the commands a GitHub Actions job runs), and this
# module, which each process unpickles its entry point from (pytest with it): once in the
# server instead of in every process. A name no longer installed is skipped.
_PRELOAD = [
    __name__,
    "harness.cli",
    "harness.cycle",
    "harness.model.anthropic_model",
    "harness.cli.work",
    "harness.cli.apply",
    "harness.cli.heal",
    "harness.forge.github",
    *PROVIDERS,
    "httpcore2",
    "h11",
    "anyio",
    "truststore",
    "jsonschema",
    "markdown_it",
    "rich.console",
    "rich.table",
]
_SERVER = multiprocessing.get_context("forkserver")
_SERVER.set_forkserver_preload(_PRELOAD)


def _entry_point(
    args: list[str],
    env: dict[str, str],
    cwd: str,
    out: str,
    err: str,
    before: Callable[[], None] | None = None,
) -> None:
    """In the forked process: the test's environment, folder and arguments, its output to
    files, ``before`` (if given), and the console entry point, as ``python -m harness`` runs
    it."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    for fd, path in ((1, out), (2, err)):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdout = open(1, "w", closefd=False, buffering=1)
    sys.stderr = open(2, "w", closefd=False, buffering=1)
    sys.argv = ["factory", *args]
    if before is not None:
        before()
    try:
        main(args)
    finally:
        atexit._run_exitfuncs()  # a process of its own ends as one: its exit handlers run


class Spawned:
    """A spawned ``factory``, read as a ``subprocess.Popen`` with text pipes is."""

    def __init__(self, process: multiprocessing.process.BaseProcess, out: Path, err: Path) -> None:
        self.process, self._out, self._err = process, out, err

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.exitcode  # -N when signal N ended it

    def poll(self) -> int | None:
        return self.process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            raise subprocess.TimeoutExpired("factory", timeout or 0)
        return self.process.exitcode

    def send_signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def kill(self) -> None:
        self.process.kill()

    def said(self) -> tuple[str, str]:
        """What it has written to its standard output and error so far."""
        return self._out.read_text(errors="replace"), self._err.read_text(errors="replace")

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self.wait(timeout)
        return self.said()


@functools.cache
def _outputs() -> Path:
    """Where this process's spawned commands write their output: one folder, removed when
    the process exits."""
    folder = Path(tempfile.mkdtemp(prefix="factory-spawned-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def spawn(
    repo: Path, env: dict[str, str], *args: str, before: Callable[[], None] | None = None
) -> Spawned:
    """The console entry point in a process of its own (for kill -9 and race tests), forked
    from a server that imported the harness once (``_PRELOAD``): an interpreter start and
    those imports cost over a second of CPU a process, a fork a few milliseconds. Nothing of
    the test's process is in it (``before``, a function of a module's top level, runs in it
    first: stand-ins for what the test is not about); its exit code is the process's (``-9``
    when killed)."""
    folder = Path(tempfile.mkdtemp(dir=_outputs()))
    out, err = folder / "stdout", folder / "stderr"
    for stream in (out, err):  # there to be read (``said``) before the process opens it
        stream.touch()
    argv = ["--repo", str(repo), *args]
    given = (argv, dict(env), os.getcwd(), str(out), str(err), before)
    return Spawned(forked(_entry_point, *given), out, err)


def forked(target: Callable[..., None], *args: Any) -> multiprocessing.process.BaseProcess:
    """``target(*args)`` started in a process forked from the server that imported the harness
    once (``_PRELOAD``); what ``args`` holds is pickled to it."""
    process = _SERVER.Process(target=target, args=args, daemon=True)
    process.start()
    return process
