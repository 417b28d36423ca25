"""The soak's killed factory commands, each in a process of its own forked from one that
imported the harness once (``benchmarks/soak.py``): an interpreter's start and the imports of a
cycle cost about half a CPU-second a process, a fork a few milliseconds, and a day kills a
command two or three times. The server is started by the soak, in its world's environment, and
holds no store, no forge and no thread; each command it forks is given its environment and
the factory's clock, runs the console entry point with its output discarded, and ends as a
process ends (its exit handlers run), or where its fault point kills it (SIGKILL). Its exit
code is the process's: -9 when the kill landed."""

from __future__ import annotations

import atexit
import importlib
import json
import os
import subprocess
import sys
from typing import IO, Any

import harness.store.base as clock
from harness.cli import main
from harness.engine.actions import PROVIDERS

# what the killed commands (`run`, `audit`) import: once, in the server; with every module
# whose actions a workflow runs (``PROVIDERS``), which a command imports when it first runs a
# step, and the browser's runner (a check's journeys)
PRELOAD = ("harness.cli.work", "harness.cycle", "harness.browser.runner", *PROVIDERS)


class Forks:
    """The server, as the soak reaches it: one command at a time."""

    def __init__(self) -> None:
        self.server: subprocess.Popen[str] | None = None

    def run(self, argv: list[str], env: dict[str, str], ahead: float) -> int:
        """``factory ARGV`` in a process of its own, ``env`` its environment and ``ahead``
        the factory clock's lead: its exit code (-N when signal N ended it)."""
        if self.server is None:
            self.server = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.soak_kills"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        assert self.server.stdin is not None and self.server.stdout is not None
        self.server.stdin.write(json.dumps({"argv": argv, "env": env, "ahead": ahead}) + "\n")
        self.server.stdin.flush()
        answer = self.server.stdout.readline()
        if not answer:
            raise RuntimeError(f"the soak's fork server ended (exit {self.server.wait()})")
        return int(answer)

    def close(self) -> None:
        if self.server is not None:
            assert self.server.stdin is not None
            self.server.stdin.close()
            self.server.wait()
            self.server = None


def _command(asked: dict[str, Any]) -> None:
    """In the forked process: the command's environment and clock, its output discarded,
    the console entry point, and the end of a process (never a return to the server's loop)."""
    os.environ.clear()
    os.environ.update(asked["env"])
    clock.DAYS_AHEAD_S = asked["ahead"]
    code = 1
    with open(os.devnull, "r+") as null:
        for fd in (0, 1, 2):
            os.dup2(null.fileno(), fd)
        sys.stdout = sys.stderr = null
        try:
            main(asked["argv"])
            code = 0
        except SystemExit as exc:  # as an interpreter ends on it: None is 0, a message 1
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        finally:
            atexit._run_exitfuncs()  # a process of its own ends as one: its exit handlers run
            os._exit(code)


def serve(requests: IO[str], answers: IO[str]) -> None:
    """One command forked per line read, its exit code written back once it ended."""
    for line in requests:
        asked = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                _command(asked)
            finally:
                os._exit(1)  # whatever happened, the forked process never serves
        _, status = os.waitpid(pid, 0)
        answers.write(f"{os.waitstatus_to_exitcode(status)}\n")
        answers.flush()


if __name__ == "__main__":
    for name in PRELOAD:
        importlib.import_module(name)
    serve(sys.stdin, sys.stdout)
