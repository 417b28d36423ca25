"""Run in a sandbox by ``warm.py`` (which imports it for ``Ask`` alone): one interpreter that
imported the Python tools of ``argv[1]`` (JSON requests) and ran each once, then forks once
per request read from stdin (JSON: ``[cwd, mark, asks]``, its folder, its mark, its asks). The
fork runs the asks one after another, each answered by its output, the mark, the tail of its
stderr, the mark. What the request left running is killed before the request's end: the
mark and `` done``, written by this interpreter once the fork has ended, whether or not it
answered every ask."""

import contextlib
import gc
import json
import multiprocessing.dummy
import os
import runpy
import signal
import sys
import time
from pathlib import Path
from typing import TypedDict

ERR = Path("/tmp/err")


class Ask(TypedDict, total=False):
    """``python -m module args``, or ``sh -c shell``."""

    module: str
    args: list[str]
    shell: str


def run(ask: Ask, mark: str, answers: int) -> None:
    """``python -m module args`` in this process (or ``/bin/sh -c shell``, waited for), its
    output to ``answers`` and its standard error to a file of its own, whose tail follows,
    between two ``mark``s. Whatever the ask did to them, the next gets them afresh."""
    os.dup2(os.open(ERR, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
    os.dup2(answers, 1)
    sys.stdout = os.fdopen(1, "w", closefd=False)
    with contextlib.suppress(BaseException):
        if "shell" in ask:
            os.system(ask["shell"])  # noqa: S605
        else:
            sys.argv = [ask["module"], *ask["args"]]
            runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    with contextlib.suppress(ValueError, OSError):  # a tool may close its output
        sys.stdout.flush()
    tail = ERR.read_bytes()[-600:].decode("utf-8", "replace")
    os.write(answers, f"\n{mark}\n{tail}\n{mark}\n".encode())


def main() -> None:
    if os.getppid() != 1:  # kill(-1) below is for a pid namespace of its own, never the host's
        sys.exit("forks.py runs under bubblewrap's --unshare-pid only")
    requests = os.fdopen(os.dup(0))
    answers = os.dup(1)
    quiet = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(quiet, fd)
    Path("/tmp/warm-up").mkdir()
    os.chdir("/tmp/warm-up")  # a file of its own: the runs fill the tools' caches
    Path("warm_up.py").write_text("import os\nkey = os.environ['KEY']\n")
    for ask in json.loads(sys.argv[1]):  # answered to nobody
        run(ask, "", quiet)
    # a tool's pool of processes is one of threads in the request's fork: a request is one
    # process's work, and a fork of the fork cost more than a change's files (detect-secrets
    # makes a pool for two files or more, whatever -c says)
    multiprocessing.Pool = multiprocessing.dummy.Pool  # type: ignore[assignment]
    gc.freeze()  # what the tools made stays shared with the forks: the collector leaves it
    for line in requests:
        cwd, mark, asks = json.loads(line)
        if os.fork() == 0:
            with contextlib.suppress(BaseException):
                for ask in asks:  # each from the request's folder
                    os.chdir(cwd)
                    run(ask, mark, answers)
            os._exit(0)
        os.wait()  # the fork: the only child here
        with contextlib.suppress(ProcessLookupError):  # none is left but init and this one
            while True:  # every other process of this uid, killed and reaped before the end
                os.kill(-1, signal.SIGKILL)
                time.sleep(0.001)
        os.write(answers, f"\n{mark} done\n".encode())


if __name__ == "__main__":
    main()
