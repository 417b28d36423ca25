"""Lookups of names and objects answered by long-lived git processes, two per repository
(docs/architecture.md, "Git through GitPython", says why these requests are written here).

Starting git costs about 1.5 ms of CPU for an answer git finds in microseconds, and sixteen
runs read branches, trees and sizes dozens of times each. So a process keeps, per repository,
the persistent ``cat-file --batch-check`` (what names resolve to) and ``--batch`` (objects'
bytes) of a ``HardenedGit``, and writes up to ``_CHUNK`` names at once to them. ``cat-file``
reads refs and looks for new objects when asked, so what other processes wrote meanwhile is
what it answers. A linked worktree, where an agent works, has no reader of its own: its names
are asked of the repository's as ``worktrees/<id>/HEAD`` (``GitRepo.find``). The integrity
guard checks what git reads before every request; a process keeps at most ``_KEEP`` readers,
the least recently used closed first, and a reader whose git ended is started again."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

from harness.caches import PROCESS
from harness.errors import GitError
from harness.git.env import HardenedGit

_KEEP = 8  # readers a process keeps (a cycle has one repository; tests make many)
T = TypeVar("T")
_CHUNK = 256  # names written before their answers are read (an answer is one short line)


@dataclass(frozen=True)
class Found:
    """What a name resolved to."""

    sha: str
    type: str
    size: int


def parse_answer(line: bytes) -> Found | None:
    """One ``cat-file`` answer line (``<object> <type> <size>``, or ``--batch``'s header):
    ``None`` for ``<name> missing`` (or ambiguous)."""
    parts = line.decode("utf-8", "replace").rstrip("\n").split(" ")
    ok = len(parts) == 3 and parts[2].isdigit()
    return Found(parts[0], parts[1], int(parts[2])) if ok else None


class Reader:
    """One ``git cat-file`` in ``path``: ``--batch-check`` (what names resolve to), or with
    ``contents`` ``--batch`` (objects' bytes); requests one at a time."""

    def __init__(self, path: Path, contents: bool) -> None:
        self.path = path
        self.contents = contents
        self._lock = threading.Lock()
        self._git = HardenedGit(path)

    def find(self, names: list[str]) -> list[Found | None]:
        """What each of ``names`` resolves to (``None``: nothing; one with a newline: not sent)."""
        return self._ask(names, lambda _, line: parse_answer(line))

    def read(self, names: list[str]) -> list[tuple[str, bytes] | None]:
        """The type and bytes of the object each of ``names`` names (``None``: nothing), for
        a ``contents`` reader; names holding a newline are never sent."""
        return self._ask(names, _object)

    def _ask(self, names: list[str], answer: Callable[[IO[bytes], bytes], T]) -> list[T]:
        with self._lock:
            try:
                return self._requests(names, answer)
            except (OSError, ValueError, GitError):  # git ended (killed, or the folder went)
                self._git.clear_cache()
                return self._requests(names, answer)  # once more, in a new process

    def _requests(self, names: list[str], answer: Callable[[IO[bytes], bytes], T]) -> list[T]:
        if self.contents:
            proc = self._git._get_persistent_cmd("cat_file_all", "cat_file", batch=True)
        else:
            proc = self._git._get_persistent_cmd("cat_file_header", "cat_file", batch_check=True)
        stdin = proc.stdin
        stdout = proc.stdout
        assert stdin is not None and stdout is not None
        answers: list[T] = []
        for at in range(0, len(names), _CHUNK):
            chunk = names[at : at + _CHUNK]
            stdin.write("".join(f"{n}\n" for n in chunk).encode())
            stdin.flush()
            for _ in chunk:
                line = stdout.readline()
                if not line.endswith(b"\n"):
                    raise GitError(f"git cat-file in {self.path} ended")
                answers.append(answer(stdout, line))
        return answers

    def close(self) -> None:
        with self._lock:
            self._git.clear_cache()

    def disown(self) -> None:
        """In a forked child: forget the parent's ``cat-file`` without ending it."""
        for cmd in (self._git.cat_file_all, self._git.cat_file_header):
            if cmd is not None:
                cmd.proc = None


def _object(out: IO[bytes], line: bytes) -> tuple[str, bytes] | None:
    """The type and bytes of the object whose ``--batch`` header is ``line``, read on."""
    found = parse_answer(line)
    if found is None:
        return None
    data = out.read(found.size + 1)  # the object, then a newline
    if len(data) != found.size + 1:
        raise GitError("git cat-file ended within an object")
    return found.type, data[:-1]


@dataclass
class _Readers:
    """The process's readers, by repository path, the most recently used last."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    by_path: OrderedDict[tuple[Path, bool], Reader] = field(default_factory=OrderedDict)
    pid: int = field(default_factory=os.getpid)


def reader(path: Path, contents: bool) -> Reader:
    """The reader of the repository at ``path`` (a main checkout or a bare repository): of
    names, or with ``contents`` of objects' bytes."""
    readers = PROCESS.part(_Readers)
    closing: list[Reader] = []
    with readers.lock:
        if readers.pid != os.getpid():  # a forked child: its parent's pipes are not its own
            for parents in readers.by_path.values():
                parents.disown()
            readers.by_path = OrderedDict()
            readers.pid = os.getpid()
        key = (path, contents)
        found = readers.by_path.get(key)
        if found is None:
            found = readers.by_path[key] = Reader(path, contents)
            while len(readers.by_path) > _KEEP:
                closing.append(readers.by_path.popitem(last=False)[1])
        readers.by_path.move_to_end(key)
    for old in closing:
        old.close()
    return found
