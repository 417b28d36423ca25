"""What a worktree holds — bytes and files — and who owns it, without walking it before
every command: walked (and, as root, handed to the sandbox uid) once per process, then read
from the file system's counters (docs/sandbox.md, the "disk" row, says the rules and why)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.caches import PROCESS

SANDBOX_UID = 65534  # as root, sandboxed commands run as this uid and gid (``nobody``)
SANDBOX_GID = 65534
_KEEP = 512  # worktrees whose counts are remembered (fresh copies come and go)


@dataclass(frozen=True)
class Held:
    bytes: int
    files: int | None  # None: the file system does not count inodes

    def __add__(self, other: Held) -> Held:
        files = None if self.files is None or other.files is None else self.files + other.files
        return Held(self.bytes + other.bytes, files)

    def __sub__(self, other: Held) -> Held:
        return self + Held(-other.bytes, None if other.files is None else -other.files)


@dataclass
class _Held:
    """What each handed-over worktree holds, as last counted: the newest ``_KEEP``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: OrderedDict[tuple[int, int, str], Held] = field(default_factory=OrderedDict)


def as_root() -> bool:
    return os.geteuid() == 0


def connectable(socket: Path) -> None:
    """The Unix socket ``socket`` stays the harness's, so no other account changes its mode or
    owner, and the sandbox's uid may connect to it: as root through the sandbox's group (mode
    0660), else it is the harness's own uid (0600)."""
    if as_root():
        os.chown(socket, -1, SANDBOX_GID)
    socket.chmod(0o660 if as_root() else 0o600)


def counters(path: Path) -> Held:
    """Bytes and inodes in use on the file system holding ``path``."""
    stats = os.statvfs(path)
    files = stats.f_files - stats.f_ffree if stats.f_files else None
    return Held((stats.f_blocks - stats.f_bfree) * stats.f_frsize, files)


def _key(top: Path) -> tuple[int, int, str] | None:
    info = top.stat()
    if as_root() and info.st_uid != SANDBOX_UID:
        return None  # not handed over (or made again since): walk it
    return (info.st_dev, info.st_ino, str(top))


def walk(top: Path, hand_over: bool, stop_at: int | None = None) -> Held:
    """The one walk: bytes allocated and entries below ``top`` (links not followed),
    stopping after ``stop_at`` entries; with ``hand_over``, entries become the sandbox uid's.
    The folder itself is handed over last: it marks the walk as done."""
    git_link = top / ".git"
    total = 0
    entries = 0
    stack = [top]
    while stack and (stop_at is None or entries <= stop_at):
        folder = stack.pop()
        try:
            with os.scandir(folder) as found:
                listed = list(found)
        except OSError:
            continue
        for entry in listed:
            try:
                info = entry.stat(follow_symlinks=False)
                if hand_over and info.st_uid != SANDBOX_UID and entry.path != str(git_link):
                    os.lchown(entry.path, SANDBOX_UID, SANDBOX_GID)
            except FileNotFoundError:
                continue
            total += info.st_blocks * 512
            entries += 1
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
    if hand_over:
        _hand_over_top(top)
    return Held(total, entries)


def _hand_over_top(top: Path) -> None:
    info = top.stat()
    if info.st_mode & 0o011 != 0o011:  # bubblewrap enters it as root without capabilities
        top.chmod(info.st_mode & 0o7777 | 0o011)
    if info.st_uid != SANDBOX_UID:
        os.lchown(top, SANDBOX_UID, SANDBOX_GID)


def held(top: Path) -> Held:
    """What ``top`` holds now, as last counted; walked (and handed over) the first time."""
    key = _key(top)
    kept = PROCESS.part(_Held)
    with kept.lock:
        if key is not None and key in kept.counts:
            kept.counts.move_to_end(key)
            return kept.counts[key]
    counted = walk(top, hand_over=as_root())
    remember(top, counted)
    return counted


def remember(top: Path, count: Held) -> None:
    """Keep what ``top`` holds after a command (its count, plus what the command added)."""
    key = _key(top)
    if key is None:
        return
    kept = PROCESS.part(_Held)
    with kept.lock:
        kept.counts[key] = count
        kept.counts.move_to_end(key)
        while len(kept.counts) > _KEEP:
            kept.counts.popitem(last=False)


def give(top: Path, paths: Iterable[Path]) -> None:
    """As root: entries the harness made in the handed-over worktree ``top`` become the
    sandbox uid's (and the folders between them and ``top``), as if a command had made them."""
    if not as_root() or top.stat().st_uid != SANDBOX_UID:
        return
    for path in paths:
        for entry in (path, *path.parents):
            if entry == top or top not in entry.parents:
                break
            with contextlib.suppress(FileNotFoundError):
                if entry.lstat().st_uid != SANDBOX_UID:
                    os.lchown(entry, SANDBOX_UID, SANDBOX_GID)


class Meter:
    """What one command adds to its worktree while it runs, against its limits: the bytes it
    writes and the files it creates, and what the worktree then holds, every limit reported
    from an exact count (see the module's docstring)."""

    def __init__(self, top: Path, disk_bytes: int, new_files: int, files: int) -> None:
        self.top = top
        self.disk_bytes = disk_bytes
        self.new_files = new_files
        self.files = files
        self.before = self.held = held(top)  # the walk, the first time only
        self.base = counters(top)
        self.counted: Held | None = None  # the counters at this command's last exact count

    def _now(self, now: Held) -> Held:
        return self.held + (now - self.base)

    def _over(self, total: Held) -> str | None:
        """The limit ``total`` passes: what the command added, or what the worktree holds once
        the command made it grow (a command that only removes is never stopped)."""
        grown = total - self.before
        if grown.bytes > self.disk_bytes or (grown.bytes > 0 and total.bytes > self.disk_bytes):
            return "disk"
        if total.files is None:
            return None
        added = total.files - (self.before.files or 0)
        if added > self.new_files or (added > 0 and total.files > self.files):
            return "files"
        return None

    def over(self) -> str | None:
        """``"disk"`` or ``"files"`` when the command passed a limit so far, by an exact count."""
        now = counters(self.top)
        if not self._over(self._now(now)) or not self._count_again(now):
            return None  # within the limits, or not yet worth a walk: the next look decides
        self._count(counters(self.top))
        return self._over(self.held)

    def _count(self, now: Held) -> None:
        """The worktree counted (a walk that stops past the caps), the counters beside it."""
        stop = max(self.files, (self.before.files or 0) + self.new_files) + 1
        self.held, self.base, self.counted = walk(self.top, False, stop_at=stop), now, now

    def _count_again(self, now: Held) -> bool:
        if self.counted is None:
            return True
        grown = now - self.counted
        return grown.bytes >= self.disk_bytes // 10 or (grown.files or 0) >= max(
            1, min(self.new_files, self.files) // 10
        )

    def finish(self, hit: str | None) -> tuple[str | None, Held]:
        """After the command: the limit it passed (``hit`` if it was stopped for one), and
        what the worktree holds now, remembered for the next command. When the file system's
        counters moved since the last count (this command's, or others' on the same file
        system), the worktree is counted again: what is remembered is exact, so a later
        refusal never compares an exact count with an estimate others' files skewed."""
        now = counters(self.top)
        if now.files is None or now != self.base:
            self._count(now)
        hit = hit or self._over(self.held)
        remember(self.top, self.held)
        return hit, self.held
