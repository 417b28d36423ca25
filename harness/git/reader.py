"""Lookups of names and objects answered by one long-lived git process per repository.

Each ``rev-parse`` or ``cat-file --batch-check`` the harness ran was a git process of its
own: about 1.5 ms of CPU to start git, and 0.4 ms of the harness's interpreter lock to spawn
it, for an answer git finds in microseconds. Sixteen runs read a branch, a commit's tree or a
file's size dozens of times each. A process keeps one ``git cat-file --batch-check`` per
repository (a main checkout or a bare repository: never a linked worktree, where an agent
works and whose ``HEAD`` is its own) and sends it the lookups of all its runs, one request
at a time:

- a request is names, one per line (a ref, ``<commit>^{tree}``, ``<commit>:<path>`` …); the
  answer is ``<object> <type> <size>`` for each, or ``<name> missing``;
- a long-lived ``cat-file`` reads each ref from the repository when it is asked (loose refs
  from their files; ``packed-refs`` again when its ``stat`` moved) and looks for an object it
  does not know among the loose objects and the packs written since it started, so what
  other processes wrote meanwhile is what it answers (``tests/git/test_reader.py``).

It is started as every git process is (``harness.git.env.start_git``: the harness's
environment and command-line configuration), and before every request the integrity guard
checks what git reads, as before any git command (``GitRepo``). A process keeps at most
``_KEEP`` readers, the least recently used closed first; a reader whose git ended is started
again; a forked child starts its own. Nothing is left at exit: git ends when its input
closes, which the end of the harness's process does.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from harness.caches import PROCESS
from harness.errors import GitError
from harness.git.env import start_git

BATCH_CHECK = "--batch-check=%(objectname) %(objecttype) %(objectsize)"
_KEEP = 8  # readers a process keeps (a cycle has one repository; tests make many)
_CHUNK = 256  # names written before their answers are read (an answer is one short line)


@dataclass(frozen=True)
class Found:
    """What a name resolved to."""

    sha: str
    type: str
    size: int


def parse_answers(names: list[str], out: bytes) -> list[Found | None]:
    """``cat-file --batch-check`` answers (``BATCH_CHECK``), one per name in order."""
    answers: list[Found | None] = []
    for line in out.decode("utf-8", "replace").splitlines()[: len(names)]:
        parts = line.split(" ")
        ok = len(parts) == 3 and parts[2].isdigit() and not line.endswith(" missing")
        answers.append(Found(parts[0], parts[1], int(parts[2])) if ok else None)
    return answers + [None] * (len(names) - len(answers))


class Reader:
    """One ``git cat-file --batch-check`` in ``path``; requests one at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None

    def find(self, names: list[str]) -> list[Found | None]:
        """What each of ``names`` resolves to (``None``: nothing); names holding a newline
        are never sent."""
        with self._lock:
            try:
                return self._ask(names)
            except (OSError, ValueError, GitError):  # git ended (killed, or the folder went)
                self._stop()
                return self._ask(names)  # once more, in a new process

    def _ask(self, names: list[str]) -> list[Found | None]:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            proc = self._proc = start_git(["cat-file", BATCH_CHECK], self.path)
        assert proc.stdin is not None and proc.stdout is not None
        answers: list[Found | None] = []
        for at in range(0, len(names), _CHUNK):
            chunk = names[at : at + _CHUNK]
            proc.stdin.write("".join(f"{n}\n" for n in chunk).encode())
            proc.stdin.flush()
            lines = [proc.stdout.readline() for _ in chunk]
            if not all(line.endswith(b"\n") for line in lines):
                raise GitError(f"git cat-file in {self.path} ended")
            answers += parse_answers(chunk, b"".join(lines))
        return answers

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError, ValueError):
            assert proc.stdin is not None
            proc.stdin.close()  # git ends at the end of its input
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def close(self) -> None:
        with self._lock:
            self._stop()


@dataclass
class _Readers:
    """The process's readers, by repository path, the most recently used last."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    by_path: OrderedDict[Path, Reader] = field(default_factory=OrderedDict)
    pid: int = field(default_factory=os.getpid)


def reader(path: Path) -> Reader:
    """The reader of the repository at ``path`` (a main checkout or a bare repository)."""
    readers = PROCESS.part(_Readers)
    closing: list[Reader] = []
    with readers.lock:
        if readers.pid != os.getpid():  # a forked child: its parent's pipes are not its own
            readers.by_path, readers.pid = OrderedDict(), os.getpid()
        found = readers.by_path.get(path)
        if found is None:
            found = readers.by_path[path] = Reader(path)
            while len(readers.by_path) > _KEEP:
                closing.append(readers.by_path.popitem(last=False)[1])
        readers.by_path.move_to_end(path)
    for old in closing:
        old.close()
    return found
