"""The egress proxy: the only network ``commands.setup`` ever has, and what it did with it.

Debian's squid, one instance per set-up run, started in a sandbox of its own that shares
the host's network (and nothing else: its folder, the read-only system). It admits CONNECT
and plain requests to the hosts of ``network.allow`` only, refuses every name that resolves
to a loopback, private or link-local address (and looks nothing up for a name not on the
list), and writes one line per connection. The set-up command runs with ``--unshare-net``:
its one way out is the proxy's Unix socket (``relay.py``). A ``socat`` beside squid turns
that socket into squid's port on the host's loopback, which the command cannot reach.

``EgressProxy`` is a context manager: inside it ``socket`` is the Unix socket to hand the
set-up's sandbox; after it, ``record`` holds every connection (``NetworkRecord``)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import jinja2

from harness.artifacts import Connection, NetworkRecord
from harness.config.network import parse_host
from harness.errors import SandboxError
from harness.paths import workflows_dir
from harness.sandbox.app import free_port
from harness.sandbox.bwrap import Sandbox
from harness.sandbox.limits import Limits

SEEN_AT = Path("/run/factory-egress")  # the proxy's folder, inside its own sandbox
SOCKET = "proxy.sock"
READY = "Accepting HTTP Socket connections"  # squid's line in cache.log once it listens
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
MAX_RECORDED = 1000  # connections kept one by one; more are counted in ``dropped``
LEFT_BEHIND_S = 24 * 3600.0  # a proxy folder this old was left by a killed run
_NOT_HOST = re.compile(r"[^A-Za-z0-9.:_\[\]-]")
_SBIN = "/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin"
# squid and socat, then wait for squid; when the harness closes standard input, squid is
# stopped (it writes the connections still open to its log, then exits). The signal is sent
# again every 50 ms until squid is gone: its shutdown ends 1 s after the first (at
# ``shutdown_lifetime 0``), but its loop sees that only when something wakes it, up to a
# second later; a signal during shutdown wakes it and changes nothing else.
_SCRIPT = (
    "exec 3<&0 >{folder}/proxy.log 2>&1\n"
    "{socat} UNIX-LISTEN:{folder}/{socket},fork,mode=0666 TCP:127.0.0.1:{port} &\n"
    "{squid} -N -f {folder}/squid.conf &\n"
    "squid=$!\n"
    "{{ read _ignored <&3; while kill -TERM $squid; do sleep 0.05; done 2>/dev/null; }} &\n"
    "wait $squid\n"
)


def squid_config(allow: Sequence[str], port: int) -> str:
    rules = []
    for entry in allow:
        host, host_port, wildcard = parse_host(entry)
        rules.append({"domain": f".{host}" if wildcard else host, "port": host_port})
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(workflows_dir() / "egress"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 (squid's configuration, not HTML)
    )
    return env.get_template("squid.conf.j2").render(port=port, folder=SEEN_AT, rules=rules)


# one line of the ``factory`` log format (``squid.conf.j2``)
_LINE = re.compile(
    r"^[0-9]+ (?P<method>[A-Z]{1,16}) (?P<host>\S{1,300}) (?P<port>[0-9]{1,5}|-) "
    r"(?P<status>[0-9]{1,3}) (?P<result>[A-Z_]{1,40}) (?P<sent>[0-9]{1,15}) "
    r"(?P<received>[0-9]{1,15}) (?P<address>\S{1,64})$"
)


def parse_log(text: str) -> tuple[list[Connection], int]:
    """squid's lines: the connections, at most MAX_RECORDED of them, and how many more there
    were. A line not in the format is skipped."""
    found: list[Connection] = []
    dropped = 0
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        if len(found) >= MAX_RECORDED:
            dropped += 1
            continue
        result, address = match["result"], match["address"]
        found.append(
            Connection(
                host=_NOT_HOST.sub("?", match["host"])[:253],
                port=int(match["port"]) if match["port"].isdigit() else 0,
                method=match["method"],
                allowed=not ("DENIED" in result or result.startswith("NONE")),
                status=int(match["status"]),
                sent=int(match["sent"]),
                received=int(match["received"]),
                address=None if address == "-" else _NOT_HOST.sub("?", address),
            )
        )
    return found, dropped


def _alive(folder: Path) -> bool:
    """Whether a proxy still answers on ``folder``'s socket (a long set-up's)."""
    handle = os.open(folder, os.O_PATH)  # a short path: a socket's may hold 107 bytes
    try:
        with socket.socket(socket.AF_UNIX) as probe:
            probe.connect(f"/proc/self/fd/{handle}/{SOCKET}")
            return True
    except OSError:
        return False
    finally:
        os.close(handle)


class EgressProxy:
    """``with EgressProxy(state_dir, allow) as proxy:`` run the set-up with
    ``egress=proxy.socket``; afterwards ``proxy.record`` holds its connections."""

    def __init__(self, state_dir: Path, allow: Sequence[str]) -> None:
        self.programs = {name: shutil.which(name, path=_SBIN) for name in ("squid", "socat")}
        for name, found in self.programs.items():
            if found is None:
                raise SandboxError(f"{name} is not installed: apt-get install {name}")
        self.allow = tuple(allow)
        self.parent = state_dir / "egress"
        self.folder: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.record = NetworkRecord(allow=self.allow)

    @property
    def socket(self) -> Path:
        assert self.folder is not None, "the proxy is not running"
        return self.folder / SOCKET

    def __enter__(self) -> EgressProxy:
        self.parent.mkdir(parents=True, exist_ok=True)
        for old in self.parent.iterdir():
            with contextlib.suppress(OSError):
                if time.time() - old.stat().st_mtime > LEFT_BEHIND_S and not _alive(old):
                    shutil.rmtree(old, ignore_errors=True)
        self.folder = Path(tempfile.mkdtemp(prefix="proxy-", dir=self.parent))
        try:
            self._start()
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        try:
            self._stop()
            assert self.folder is not None
            log = self.folder / "access.log"
            text = log.read_text(errors="replace") if log.exists() else ""
            connections, dropped = parse_log(text)
            self.record = NetworkRecord(
                allow=self.allow, connections=tuple(connections), dropped=dropped
            )
        finally:
            self._remove()

    def _start(self) -> None:
        """squid on a free port of the host's loopback (another if that one was taken in the
        meantime), and socat in front of it, both ready."""
        assert self.folder is not None
        problem = "it did not start"
        for _ in range(3):
            port = free_port()
            (self.folder / "squid.conf").write_text(squid_config(self.allow, port))
            for name in ("cache.log", "access.log", "proxy.log", SOCKET):
                (self.folder / name).unlink(missing_ok=True)
            sandbox = Sandbox(self.folder, Limits(), network=True, seen_as=SEEN_AT)
            script = _SCRIPT.format(port=port, folder=SEEN_AT, socket=SOCKET, **self.programs)
            self.proc = sandbox.popen(script, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
            problem = self._wait_ready()
            if not problem:
                return
            self._stop()
            if "bind" not in problem.lower() and "in use" not in problem.lower():
                break
        raise SandboxError(f"the egress proxy (squid) could not start: {problem}")

    def _wait_ready(self) -> str:
        """ "" once squid listens and the socket exists, else squid's last words."""
        assert self.folder is not None and self.proc is not None
        logs = [self.folder / "cache.log", self.folder / "proxy.log"]
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = "\n".join(p.read_text(errors="replace") for p in logs if p.exists())
            if READY in text and (self.folder / SOCKET).exists():
                return ""
            fatal = [line for line in text.splitlines() if "FATAL" in line]
            if fatal or self.proc.poll() is not None:
                return (fatal or text.strip().splitlines() or ["it exited"])[-1][-300:]
            time.sleep(0.02)
        return f"not ready after {START_TIMEOUT_S:.0f}s"

    def _stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        assert proc.stdin is not None
        with contextlib.suppress(OSError):
            proc.stdin.close()  # the script stops squid, which writes what is still open
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            Sandbox._kill(proc)
            proc.wait(timeout=STOP_TIMEOUT_S)

    def _remove(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
