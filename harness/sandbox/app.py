"""The app under validation: started in the sandbox in a network namespace of its own.

Only loopback exists in that namespace, so the app can reach nothing; the browser is
started inside the same namespace (``enter_network``, see ``harness/browser/confine.py``)
and is the only thing that can reach the app. Readiness is polled from inside the
namespace too. Entering it takes root (``CAP_SYS_ADMIN`` where it was made): as an ordinary
user the app's bubblewrap leaves no way in, so serving the app is refused at once."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from harness.errors import FactoryError
from harness.sandbox.bwrap import Sandbox, running_as_root
from harness.sandbox.limits import Cgroup

NSENTER = "/usr/bin/nsenter"  # util-linux, as prlimit and setpriv (``limits``)


def enter_network(netns_pid: int | None) -> list[str]:
    """The command prefix that enters the network namespace ``netns_pid`` is in now (as
    root), and runs the command only if it is that very namespace once inside: were the app
    gone and its pid taken by another process, the command would not start. None: no app's
    network to enter, no prefix."""
    if netns_pid is None:
        return []
    path = f"/proc/{netns_pid}/ns/net"
    expected = f"net:[{Path(path).stat().st_ino}]"
    check = 'test "$(readlink /proc/self/ns/net)" = "$0" && exec "$@"'
    return [NSENTER, f"--net={path}", "--", "/bin/sh", "-c", check, expected]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AppNotReady(FactoryError):
    """What a check runs against never began: the app did not answer 200 on its ready path,
    or the sealed validator's process ended before it began
    (``harness.validate.sealed.not_started``). ``environment``: the environment's, never
    the change's (an app still starting when its time was up, a seal that never began);
    ``output`` is its last output (given, the lines of it that tell most end the message:
    its last two, a warning only when it printed nothing else)."""

    def __init__(self, message: str, output: str | None = None, environment: bool = False) -> None:
        lines = [line.strip()[:200] for line in (output or "").splitlines() if line.strip()]
        own = [line for line in lines if "warning" not in line.lower()] or lines  # its own words
        if output is not None:
            message += (
                f"; its output ends: {' | '.join(own[-2:])}" if own else "; it printed nothing"
            )
        super().__init__(message)
        self.output = output or ""
        self.environment = environment


class AppProcess:
    """``with AppProcess(sandbox, command, port, ready_path) as app:`` — always torn down."""

    def __init__(self, sandbox: Sandbox, command: str, port: int, ready_path: str = "/") -> None:
        self.sandbox = sandbox
        self.command = command
        self.port = port
        self.ready_path = ready_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.netns_pid: int | None = None
        self.cgroup: Cgroup | None = None  # its limits, no other sandbox's
        # nameless (unlinked at once): gone with its last descriptor, even after a kill -9
        self._log = tempfile.TemporaryFile()  # noqa: SIM115

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """The end of what the app printed: its last 4,000 bytes."""
        fd = self._log.fileno()
        size = os.fstat(fd).st_size
        return os.pread(fd, 4000, max(0, size - 4000)).decode("utf-8", errors="replace")

    def __enter__(self) -> AppProcess:
        if not running_as_root():
            raise AppNotReady(
                "serving the app to a browser needs root: only root can enter the network "
                "namespace the app's sandbox makes (run the factory as root, as in CI)"
            )
        read_fd, write_fd = os.pipe()
        self.cgroup = Cgroup(self.sandbox.limits)
        self.proc = self.sandbox.popen(
            self.command, self.cgroup, stdout=self._log.fileno(), info_fd=write_fd
        )
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as info:
            raw = info.read(4096)
        try:
            self.netns_pid = int(json.loads(raw.decode() or "{}")["child-pid"])
        except (ValueError, KeyError) as exc:
            last = self.output()
            self.stop()
            raise AppNotReady("the app's sandbox did not start", last) from exc
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def wait_ready(self, timeout_s: float) -> None:
        """Poll ``ready_path`` until HTTP 200 (or a redirect to the app itself), or raise with
        the app's last output: asked from inside the app's namespace (held open for the
        whole wait), while watching that the app is still up."""
        assert self.netns_pid is not None
        late = (
            f"{self.base_url}{self.ready_path} did not answer 200 within {timeout_s:.0f}s "
            "(commands.ready_timeout_s)"
        )
        end = time.monotonic() + timeout_s
        with Path(f"/proc/{self.netns_pid}/ns/net").open() as network:
            while not self._ready(network.fileno()):
                if self.proc is not None and self.proc.poll() is not None:
                    why = f"the app exited with {self.proc.returncode} before it was ready"
                    raise AppNotReady(why, self.output())
                if time.monotonic() >= end:
                    raise AppNotReady(late, self.output(), environment=True)
                time.sleep(0.05)

    def _ready(self, network: int) -> bool:
        """Whether ``ready_path`` answers 200, or a redirect (3xx) to the app's own origin (a
        relative Location, or this host and port): asked on the loopback of the network
        namespace open on the descriptor ``network`` by a thread that enters it (``setns``,
        any kind: the descriptor's) and ends there, so no thread of the harness stays in it."""
        import ctypes  # here: a process that serves no app imports neither (9 ms)
        from http.client import HTTPConnection, HTTPException

        def ask() -> bool:
            if ctypes.CDLL(None).setns(network, 0):  # -1: refused
                raise OSError("the app's network namespace could not be entered")
            connection = HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                connection.request("GET", self.ready_path)
                answer = connection.getresponse()
            finally:
                connection.close()
            to = answer.getheader("Location") or "\\"
            if answer.status // 100 != 3 or "\\" in to:
                return answer.status == 200
            went = urlsplit(urljoin(self.base_url, to.strip()))
            own = (f"127.0.0.1:{self.port}", f"localhost:{self.port}")
            return went.scheme == "http" and went.netloc in own

        with (
            ThreadPoolExecutor(1) as thread,
            contextlib.suppress(OSError, HTTPException, ValueError),
        ):
            return thread.submit(ask).result()
        return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            Sandbox._kill(self.proc)
        if self.cgroup is not None:
            self.cgroup.remove()
        self._log.close()
