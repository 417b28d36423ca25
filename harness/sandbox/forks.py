"""Run in a sandbox by ``warm.py`` (which imports it for ``Ask`` alone): one interpreter that
imported the Python tools of ``argv[1]`` (JSON requests) and ran each once, then forks once
per request read from stdin (an ``Ask`` as JSON). The answer: the output, the mark, the tail
of stderr, the mark. What a request left running is killed before the answer."""

import contextlib
import gc
import json
import os
import runpy
import signal
import sys
import time
from pathlib import Path
from typing import TypedDict

ERR = Path("/tmp/err")


class Ask(TypedDict, total=False):
    """A request: ``python -m module args``, or ``sh -c shell``; from a folder of its own
    (``cwd``), answered between two ``mark``s (a warm-up's has neither)."""

    module: str
    args: list[str]
    shell: str
    cwd: str
    mark: str


def run(ask: Ask) -> int:
    """``python -m module args`` in this process (or ``sh -c shell`` in its place)."""
    if "shell" in ask:
        os.execv("/bin/sh", ["/bin/sh", "-c", ask["shell"]])  # noqa: S606
    sys.argv = [ask["module"], *ask["args"]]
    try:
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    finally:
        with contextlib.suppress(ValueError, OSError):  # a tool may close its output
            sys.stdout.flush()
    return 0


def others() -> bool:
    """Whether a process other than init and this one lives here (a zombie has no cmdline)."""
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if proc.name not in ("1", str(os.getpid())) and (proc / "cmdline").read_bytes():
                return True
    return False


def main() -> None:
    if os.getppid() != 1:  # kill(-1) below is for a pid namespace of its own, never the host's
        sys.exit("forks.py runs under bubblewrap's --unshare-pid only")
    requests = os.fdopen(os.dup(0))
    answers = os.fdopen(os.dup(1), "w")
    quiet = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(quiet, fd)
    Path("/tmp/warm-up").mkdir()
    os.chdir("/tmp/warm-up")  # a file of its own: the runs fill the tools' caches
    Path("warm_up.py").write_text("import os\nkey = os.environ['KEY']\n")
    for ask in json.loads(sys.argv[1]):
        with contextlib.suppress(Exception):
            run(ask)
    gc.freeze()  # what the tools made stays shared with the forks: the collector leaves it
    for line in requests:
        ask = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            with contextlib.suppress(BaseException):
                os.dup2(os.open(ERR, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
                os.dup2(answers.fileno(), 1)
                sys.stdout = os.fdopen(1, "w")
                os.chdir(ask["cwd"])
                code = run(ask)
            os._exit(code)
        os.waitpid(pid, 0)
        while others():  # every other process of this uid (but init), gone before the answer
            with contextlib.suppress(OSError):
                os.kill(-1, signal.SIGKILL)
            time.sleep(0.001)
        tail = ERR.read_bytes()[-600:].decode("utf-8", "replace") if ERR.exists() else ""
        answers.write(f"\n{ask['mark']}\n{tail}\n{ask['mark']}\n")
        answers.flush()


if __name__ == "__main__":
    main()
