"""Who is at the other end of a Unix socket the harness serves to one sandbox (the seal's model
and browser sockets): the peer's credentials as the kernel gives them (``SO_PEERCRED``),
checked on every connection. Only a process of the sandbox's uid that descends from the
sandbox the harness started is admitted; any other connection is refused and described in
``refused``, which the run's record keeps."""

from __future__ import annotations

import os
import socket
import struct
import threading
from pathlib import Path

from harness.sandbox.holding import SANDBOX_UID

_UCRED = struct.Struct("3i")  # pid, uid, gid
_STARTED_S = 120.0  # how long a connection may wait for the sandbox's pid to be known
_KEPT = 50  # refusals described one by one


def sandbox_uid() -> int:
    """The uid a sandboxed process runs as: the sandbox uid as root, else the harness's own."""
    return SANDBOX_UID if os.geteuid() == 0 else os.getuid()


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _descends(pid: int, root: int) -> bool:
    for _ in range(64):
        if pid == root:
            return True
        if pid <= 1:
            return False
        try:
            pid = _parent(pid)
        except (OSError, ValueError, IndexError):
            return False
    return False


def _name(pid: int) -> str:
    try:
        comm = Path(f"/proc/{pid}/comm").read_text(errors="replace").strip()
    except OSError:
        return "gone"
    return "".join(c if c.isprintable() else "?" for c in comm)[:16]


class Peers:
    """The processes one sandbox's sockets are for: uid ``sandbox_uid()`` and a descendant of
    the process given to ``started``; every other peer is refused and listed in ``refused``."""

    def __init__(self) -> None:
        self.uid = sandbox_uid()
        self.refused: list[str] = []
        self._root: int | None = None
        self._known = threading.Event()
        self._lock = threading.Lock()

    def started(self, pid: int) -> None:
        self._root = pid
        self._known.set()

    def admit(self, conn: socket.socket, what: str) -> bool:
        """Whether the peer of ``conn`` (a connection to the socket ``what``) is the sandbox's;
        if not, the attempt is kept in ``refused``."""
        pid, uid, _ = _UCRED.unpack(
            conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        )
        self._known.wait(_STARTED_S)
        if uid == self.uid and self._root is not None and _descends(pid, self._root):
            return True
        with self._lock:
            if len(self.refused) < _KEPT:
                self.refused.append(f"{what}: uid {uid}, pid {pid} ({_name(pid)})")
        return False
