"""The warm analysers (docs/sandbox.md, "Warm analysers"): one sandboxed interpreter
(``forks.py``) that imported the Python tools and ran each once, a fork per request, made on
the first request and kept for a cycle (``harness.sandbox.shared``). Requests take turns,
each in a folder of the sandbox's own. One past the time limit or the output cap stops the
interpreter: the next request makes another."""

from __future__ import annotations

import json
import os
import re
import secrets
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path

from harness.config.settings import Settings
from harness.cpu import waiting
from harness.sandbox import holding
from harness.sandbox.bwrap import Sandbox, interpreter
from harness.sandbox.forks import Ask
from harness.sandbox.limits import Cgroup, Limits
from harness.sandbox.policy import TREE, worktree_sandbox
from harness.sandbox.shared import own_folder

PREFIX = "factory-analysers-"  # then mkdtemp's letters


class Warm:
    def __init__(self, settings: Settings, limits: Limits, warm_up: list[Ask]):
        self.settings = settings
        self.limits = limits
        self.warm_up = warm_up
        # no other user passes the private folder above the sandbox's own, which names its
        # process: a killed process's is removed by the next one made
        self.folder = own_folder(Path(tempfile.gettempdir()), PREFIX) / "tree"
        self.folder.mkdir()
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.cgroup: Cgroup | None = None

    def alive(self) -> bool:  # a dead interpreter is made again by the next request
        return self.folder.is_dir()

    def stop(self) -> None:
        self._end()
        shutil.rmtree(self.folder.parent, ignore_errors=True)

    def _end(self) -> None:
        proc, cgroup, self.proc, self.cgroup = self.proc, self.cgroup, None, None
        if proc is not None:
            Sandbox._kill(proc)
            proc.communicate()
        if cgroup is not None:
            cgroup.remove()

    def _start(self) -> subprocess.Popen[bytes]:
        """A new interpreter, started by a thread of its own that waits for it: bubblewrap's
        --die-with-parent ends a sandbox with the thread that started it, not the process."""
        self._end()
        code = Path(__file__).with_name("forks.py").read_text(encoding="utf-8")
        sandbox = worktree_sandbox(self.settings, self.folder, self.limits, readable=interpreter())
        self.cgroup = cgroup = Cgroup(self.limits)
        made = Future[subprocess.Popen[bytes]]()
        command = "exec " + shlex.join([sys.executable, "-I", "-c", code, json.dumps(self.warm_up)])

        def keep() -> None:
            try:
                made.set_result(sandbox.popen(command, cgroup, stdin=subprocess.PIPE))
            except BaseException as e:  # raised again by the caller
                made.set_exception(e)
                return
            made.result().wait()

        threading.Thread(target=keep, daemon=True).start()
        self.proc = made.result()
        return self.proc

    def _running(self) -> subprocess.Popen[bytes]:
        proc = self.proc
        return self._start() if proc is None or proc.poll() is not None else proc

    def start(self) -> None:
        """The interpreter started now if none runs: its imports and warm-up then overlap
        whatever the caller does until its first request."""
        with self.lock:
            self._running()

    def run(self, folder: Path, asks: list[Ask]) -> list[tuple[str, str]]:
        """(standard output, the tail of standard error or why there is none) of each of
        ``asks`` (``forks.py``: a shell ask alone), run one after another by one fork in
        ``folder``, a folder of ``self.folder``. An ask the fork did not answer before it
        ended (a crash, a signal) is answered by why, never by an empty output."""
        holding.walk(folder, hand_over=holding.as_root())
        mark = f"@@warm-{secrets.token_hex(8)}@@"
        request = json.dumps([str(TREE / folder.relative_to(self.folder)), mark, asks])
        done = f"\n{mark} done\n".encode()
        data = bytearray()
        problem = ""
        with waiting(), self.lock:  # the turn given up first: the lock may be a wait
            proc = self._running()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(request.encode() + b"\n")
                proc.stdin.flush()
            except OSError:
                pass  # it died: what it said is read below
            deadline = time.monotonic() + self.limits.timeout_s
            while done not in data and not problem:
                left = deadline - time.monotonic()
                if left <= 0 or len(data) > self.limits.output_bytes:
                    problem = f"stopped: {'time' if left <= 0 else 'output'} limit"
                elif select.select([proc.stdout], [], [], min(left, 1.0))[0]:
                    chunk = os.read(proc.stdout.fileno(), 65536)
                    data += chunk
                    problem = "" if chunk else f"the interpreter exited {proc.wait()}"
            if problem:
                self._end()  # what the fork answered before it holds; the rest, the problem
        text = data.partition(done)[0].decode("utf-8", "replace")
        answered = re.findall(f"(.*?)\n{mark}\n(.*?)\n{mark}\n", text, re.DOTALL)  # both marks
        why = problem or "no answer: its fork ended first"
        return answered + [("", why)] * (len(asks) - len(answered))
