"""Chromium confined like agent code: every browser that renders the app (docs/sandbox.md,
"The app, the browser and the seal", says what it sees, how and why). The whole confinement
is one executable file, ``Launcher.script``, that Playwright starts as its browser; the sealed
validator's relay (``relay.py``) has the ``BrowserBroker`` start the same launcher."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shlex
import socket
import socketserver
import subprocess
import threading
from pathlib import Path
from typing import Any, Self

from harness.sandbox import seccomp
from harness.sandbox.app import enter_network
from harness.sandbox.bwrap import (
    CONFINED_ENV,
    SAFE_PATH,
    SYSTEM,
    Sandbox,
    View,
    bwrap_argv,
    under,
)
from harness.sandbox.holding import connectable
from harness.sandbox.limits import BROWSER_LIMITS, Cgroup
from harness.sandbox.peers import Peers

# Chromium runs as a uid of its own when the harness is root: it can touch nothing the sandbox
# uid owns (the worktrees)
BROWSER_UID = 65533
_FILTER_FD = 9  # the seccomp filter, opened by the launcher for bubblewrap
_FONT_CACHE = Path("/var/cache/fontconfig")
_MOVE_FDS = 'exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>&2'


def browser_view(executable: Path, in_app_network: bool, hidden: tuple[Path, ...]) -> View:
    """What a confined Chromium sees: the system (``hidden`` masked where it falls inside),
    its own folder, the font cache; a private ``/tmp``; the app's network namespace when it
    was entered first, else none."""
    folder = executable.resolve().parent
    readable = [p for p in (folder, _FONT_CACHE) if p.is_dir() and not under(p, map(Path, SYSTEM))]
    return View(
        readable=tuple(readable),
        hidden=hidden,
        network=in_app_network,
        env=dict(CONFINED_ENV),
        uid=BROWSER_UID,
    )


class Launcher:
    """The command that starts a confined Chromium, written as the executable ``script`` in
    ``folder``: it takes Chromium's arguments and the two pipe descriptors, as Playwright
    gives them to a browser it starts. ``hidden``: the factory's own folders (the policy's
    list), masked where they would fall inside the system view. Each launcher's browser has
    a cgroup of its own (``BROWSER_LIMITS``: tasks, memory; and a file size), removed by
    ``close``."""

    def __init__(
        self, folder: Path, executable: str, netns_pid: int | None, hidden: tuple[Path, ...]
    ) -> None:
        command = [  # first, as root: the app's network (if any), then the sandbox
            *enter_network(netns_pid),
            *bwrap_argv(
                browser_view(Path(executable), netns_pid is not None, hidden),
                [executable],
                seccomp_fd=_FILTER_FD if seccomp.active() else None,
            ),
        ]
        self.cgroup = Cgroup(BROWSER_LIMITS)
        command = self.cgroup.entered(command)
        redirect = ""
        program = seccomp.program()
        if program is not None:
            bpf = folder / "seccomp.bpf"
            bpf.write_bytes(program)
            redirect = f" {_FILTER_FD}<{shlex.quote(str(bpf))}"
        self.script = folder / "chromium-confined"
        self.script.write_text(f'#!/bin/sh\nexec {shlex.join(command)} "$@"{redirect}\n')
        self.script.chmod(0o755)

    def close(self) -> None:
        self.cgroup.remove()

    def spawn(self, args: list[str], fds: list[int]) -> subprocess.Popen[bytes]:
        """The launcher run with ``args`` on ``fds`` (Playwright's two pipe ends, then where
        Chromium's output goes), in a session of its own. They arrive as its standard
        streams and are moved where Chromium expects them: 3 and 4, output on 1 and 2."""
        into, out, log = fds
        return subprocess.Popen(
            ["/bin/sh", "-c", _MOVE_FDS, str(self.script), *args],
            stdin=into,
            stdout=out,
            stderr=log,
            env={"PATH": SAFE_PATH},
            start_new_session=True,
        )


class SealSocket(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A Unix socket at ``path`` (the ``door`` a refusal names) for the seal's processes
    alone (``peers``): bound, made connectable for the seal's uid, then listening while it
    is entered, each connection served by ``handler`` on a thread of its own; every other
    peer's is refused and kept in ``peers.refused``. Leaving it waits for the connections
    it serves."""

    daemon_threads = True

    def __init__(
        self, path: Path, handler: type[socketserver.BaseRequestHandler], peers: Peers, door: str
    ) -> None:
        super().__init__(str(path), handler, bind_and_activate=False)
        self.path = path
        self.peers = peers
        self.door = door
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.server_bind()
        connectable(self.path)  # the harness's; the seal's uid may connect
        self.server_activate()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.shutdown()
        self.server_close()

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return self.peers.admit(request, self.door)


class BrowserBroker(SealSocket):
    """Starts one confined Chromium for the sealed validator. On the Unix socket ``path``
    (bound into the seal) its relay sends Chromium's arguments with its pipe ends; the
    broker runs ``launcher`` on them, answers with Chromium's exit status when it ends, and
    kills it when the relay goes away. The arguments come from the seal, but the
    confinement does not depend on them: it is the launcher's, whatever Chromium is told.
    Only the seal's first connection is served (``SealSocket``); a later one is closed."""

    def __init__(self, path: Path, launcher: Launcher, peers: Peers) -> None:
        super().__init__(path, _Browse, peers, "browser socket")
        self.launcher = launcher
        self.proc: subprocess.Popen[bytes] | None = None
        self.browsing = False  # its one browser was asked for

    def verify_request(self, request: Any, client_address: Any) -> bool:
        first = super().verify_request(request, client_address) and not self.browsing
        self.browsing |= first
        return first

    def __exit__(self, *_: object) -> None:
        if self.proc is not None and self.proc.poll() is None:  # the seal has ended
            Sandbox._kill(self.proc)
        super().__exit__()


class _Browse(socketserver.BaseRequestHandler):
    """The relay's one request: Chromium started on its arguments and pipes, its exit
    status sent back."""

    server: BrowserBroker

    def handle(self) -> None:
        try:
            args, fds = _request(self.request)
        except (OSError, ValueError):
            return
        try:
            self.server.proc = proc = self.server.launcher.spawn(args, fds)
        finally:
            for fd in fds:
                os.close(fd)
        code = _watch(self.request, proc)
        with contextlib.suppress(OSError):
            self.request.sendall(f"{code}\n".encode())


def _watch(conn: socket.socket, proc: subprocess.Popen[bytes]) -> int:
    """Chromium's exit status; killed first if the relay hangs up."""
    exited = os.pidfd_open(proc.pid)
    try:
        ready, _, _ = select.select([exited, conn.fileno()], [], [])
        if exited not in ready:
            Sandbox._kill(proc)
        return proc.wait()
    finally:
        os.close(exited)


def _request(conn: socket.socket) -> tuple[list[str], list[int]]:
    """What the relay sends: one JSON line of arguments, with three descriptors."""
    data, fds, _, _ = socket.recv_fds(conn, 65536, 3)
    try:
        while not data.endswith(b"\n") and len(data) < 1 << 20:
            more = conn.recv(65536)
            if not more:
                break
            data += more
        args = json.loads(data)
        if len(fds) != 3 or not (
            isinstance(args, list) and all(isinstance(a, str) and "\0" not in a for a in args)
        ):
            raise ValueError("a relay sends a list of arguments and three descriptors")
    except (OSError, ValueError):
        for fd in fds:
            os.close(fd)
        raise
    return args, fds
