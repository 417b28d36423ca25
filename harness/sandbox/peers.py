"""Who is at the other end of a Unix socket the harness serves to one sandbox (the seal's model
and browser sockets): the peer's credentials as the kernel gives them (``SO_PEERCRED``),
checked on every connection. Only a process of the sandbox's uid that descends from the
sandbox the harness started is admitted; any other connection is refused and described in
``refused``, which the run's record keeps (the first 50). The sandbox checks its end too
(``served_by``): it talks only to a listener of the harness's uid.

The sockets live in a folder of the harness's own (``socket_folder``), short enough for any
socket's path whatever ``TMPDIR`` or the state folder is, and each socket stays the harness's
(``harness.sandbox.holding.connectable``): no other account changes its mode or its owner."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import stat
import struct
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from harness.errors import SandboxError
from harness.sandbox.holding import SANDBOX_UID, as_root

_UCRED = struct.Struct("3i")  # pid, uid, gid
SOCKETS_PREFIX = "factory-seal-"  # the sockets' folder: this, then mkdtemp's letters
# the longest name ``socket_path`` gives ("browser-", 24 hex digits, ".sock"), and the bytes a
# socket's path may hold (sun_path's 108, less its NUL)
SOCKET_NAME_BYTES = 37
UNIX_PATH_BYTES = 107
# the longest folder the sockets' folder fits in: "/", the prefix, mkdtemp's 8 letters, "/"
BASE_BYTES = UNIX_PATH_BYTES - len(SOCKETS_PREFIX) - 10 - SOCKET_NAME_BYTES
_BASES = ("/tmp", "/dev/shm", "/var/tmp")  # after TMPDIR, where that folder is looked for
NO_SOCKET_FOLDER = (
    f"no folder for the sealed validator's sockets: TMPDIR and {', '.join(_BASES)} are each "
    f"longer than {BASE_BYTES} bytes, missing, or writable by other accounts; set TMPDIR to "
    "a short folder of your own"
)


def socket_base() -> Path | None:
    """Where the sockets' folder is made: the first of ``TMPDIR`` and ``_BASES`` that holds a
    socket's whole path and that no other account may rename entries in (its owner is root
    or the harness, and others may not write to it, unless it is sticky); None if none."""
    for base in map(Path, (tempfile.gettempdir(), *_BASES)):
        with contextlib.suppress(OSError):
            info = base.stat()
            safe = info.st_uid in (0, os.geteuid()) and (
                not info.st_mode & 0o022 or info.st_mode & stat.S_ISVTX
            )
            if len(bytes(base)) <= BASE_BYTES and safe and os.access(base, os.W_OK | os.X_OK):
                return base
    return None


@contextlib.contextmanager
def socket_folder() -> Iterator[Path]:
    """A folder made afresh for one sandbox's sockets in ``socket_base`` (mkdtemp: 0700, a
    name no one guesses), then opened to be passed through (0711: a socket is reached by its
    name; nothing in it is listed, renamed or unlinked by another account); removed after."""
    base = socket_base()
    if base is None:
        raise SandboxError(NO_SOCKET_FOLDER)
    with tempfile.TemporaryDirectory(prefix=SOCKETS_PREFIX, dir=base) as made:
        Path(made).chmod(0o711)
        yield Path(made)


def socket_path(folder: Path, what: str) -> str:
    """A socket's path in ``folder``, named afresh for one run (``what``: model, browser)."""
    return str(folder / f"{what}-{secrets.token_hex(12)}.sock")


def _descends(pid: int, root: int) -> bool:
    """Whether ``pid`` is ``root`` or a process below it (psutil reads each parent, and no
    process started before the child it would be the parent of)."""
    import psutil  # the harness's side alone: the seal and its relay check with ``served_by``

    try:
        return pid == root or root in (p.pid for p in psutil.Process(pid).parents())
    except psutil.Error:  # gone, or not visible here (pid 0: another pid namespace)
        return False


class Peers:
    """The processes one sandbox's sockets are for: its uid (``uid``) and a descendant of the
    process given to ``started``; every other peer is refused and listed in ``refused``."""

    def __init__(self) -> None:
        self.uid = SANDBOX_UID if as_root() else os.getuid()
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
