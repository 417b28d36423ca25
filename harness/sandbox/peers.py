"""Who is at the other end of a Unix socket the harness serves to one sandbox (the seal's model
and browser sockets): the peer's credentials as the kernel gives them (``SO_PEERCRED``),
checked on every connection. Only a process of the sandbox's uid that descends from the
sandbox the harness started is admitted; any other connection is refused and described in
``refused``, which the run's record keeps (the first 50). The sandbox checks its end too
(``served_by``): it talks only to a listener of the harness's uid."""

from __future__ import annotations

import os
import socket
import struct
import threading
from pathlib import Path

from harness.errors import SandboxError
from harness.sandbox.holding import SANDBOX_UID

_UCRED = struct.Struct("3i")  # pid, uid, gid


def _descends(pid: int, root: int) -> bool:
    for _ in range(64):
        if pid in (root, 0, 1):
            return pid == root
        try:  # its parent: the field after the command's name, which may hold anything
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


class Peers:
    """The processes one sandbox's sockets are for: its uid (``uid``) and a descendant of the
    process given to ``started``; every other peer is refused and listed in ``refused``."""

    def __init__(self) -> None:
        self.uid = SANDBOX_UID if os.geteuid() == 0 else os.getuid()
        self.refused: list[str] = []
        self._root: int | None = None
        self._known = threading.Event()

    def started(self, pid: int) -> None:
        self._root = pid
        self._known.set()

    def admit(self, conn: socket.socket, what: str) -> bool:
        """Whether the peer of ``conn`` (a connection to the socket ``what``) is the sandbox's;
        if not, the attempt is kept in ``refused``."""
        peer = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        pid, uid, _ = _UCRED.unpack(peer)
        self._known.wait(120)  # connections come once it started; a stranger's may come first
        if uid == self.uid and self._root is not None and _descends(pid, self._root):
            return True
        if len(self.refused) < 50:
            self.refused.append(f"{what}: uid {uid}, pid {pid}")
        return False


def served_by(conn: socket.socket, uid: int, what: str) -> None:
    """Refuse (``SandboxError``) the connection ``conn`` to the socket ``what`` unless the
    process listening at its other end runs as ``uid``, the harness's."""
    _, peer, _ = _UCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    if peer != uid:
        raise SandboxError(
            f"the {what} is served by uid {peer}, not by the harness (uid {uid}): the seal stopped"
        )
