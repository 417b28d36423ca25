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
import sys
import tempfile
import time
from pathlib import Path

from harness.errors import FactoryError
from harness.sandbox.bwrap import Sandbox, running_as_root
from harness.sandbox.limits import Cgroup

# argv: port, path, seconds; asks 127.0.0.1 until it answers HTTP 200, or a redirect (3xx) to
# the app's own origin (a relative Location, or this host and port), or the time is up (exit
# 1). Run isolated and without site (``-I -S``): the standard library alone, a tenth of the
# start of an interpreter that imports urllib.request.
_PROBE = (
    "import socket, sys, time\n"
    "from urllib.parse import urlsplit\n"
    "port, path, end = int(sys.argv[1]), sys.argv[2], time.monotonic() + float(sys.argv[3])\n"
    "ask = ('GET %s HTTP/1.1\\r\\nHost: 127.0.0.1:%d\\r\\nConnection: close\\r\\n\\r\\n'"
    " % (path, port)).encode()\n"
    "own = ('127.0.0.1:%d' % port, 'localhost:%d' % port)\n"
    "def ready(answer):\n"
    "    code = answer.readline(200).split()[1:2]\n"
    "    if code == [b'200'] or not code or code[0][:1] != b'3':\n"
    "        return code == [b'200']\n"
    "    for line in iter(lambda: answer.readline(4000).strip(), b''):\n"
    "        name, _, value = line.decode('latin-1').partition(':')\n"
    "        if name.strip().lower() == 'location' and '\\\\' not in value:\n"
    "            to = urlsplit(value.strip())\n"
    "            relative = not (to.scheme or to.netloc)\n"
    "            return relative or (to.scheme == 'http' and to.netloc in own)\n"
    "    return False\n"
    "while time.monotonic() < end:\n"
    "    try:\n"
    "        with socket.create_connection(('127.0.0.1', port), timeout=2) as s:\n"
    "            s.sendall(ask)\n"
    "            if ready(s.makefile('rb')):\n"
    "                sys.exit(0)\n"
    "    except OSError:\n"
    "        pass\n"
    "    time.sleep(0.05)\n"
    "sys.exit(1)\n"
)


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
        the app's last output: one prober inside the namespace polls, while this watches that
        the app is still up."""
        assert self.netns_pid is not None
        url = self.base_url + self.ready_path
        probe = subprocess.Popen(
            [
                *enter_network(self.netns_pid),
                *(sys.executable, "-I", "-S", "-c", _PROBE),
                *(str(self.port), self.ready_path, str(timeout_s)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        guard = time.monotonic() + timeout_s + 10  # the prober's own clock ends it first
        try:
            while probe.poll() is None and time.monotonic() < guard:
                if self.proc is not None and self.proc.poll() is not None:
                    why = f"the app exited with {self.proc.returncode} before it was ready"
                    raise AppNotReady(why, self.output())
                with contextlib.suppress(subprocess.TimeoutExpired):
                    probe.wait(timeout=0.05)
        finally:
            if probe.poll() is None:
                probe.kill()
            probe.wait()
        if probe.returncode != 0:  # killed by the guard, too
            late = f"{url} did not answer 200 within {timeout_s:.0f}s (commands.ready_timeout_s)"
            raise AppNotReady(late, self.output(), environment=True)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            Sandbox._kill(self.proc)
        if self.cgroup is not None:
            self.cgroup.remove()
        self._log.close()
