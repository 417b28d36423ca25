"""The repository's own git configuration is data: checked when a run begins, pinned until
it ends (docs/how-it-works.md, "Git is the harness's, not the repository's").

A key of ``.git/config`` or a worktree configuration file that makes git run a program, or
send credentials or objects elsewhere, and that no command-line setting can switch off is
refused (``GitConfigRefused``; ``REFUSED_KEYS``, ``section.*.name`` for any subsection).
Keys every harness git command overrides (``SAFE_CONFIG``) are allowed: refusing them would
turn away every repository whose hooks a tool such as husky installed (``core.hooksPath``).
Those files, the hooks folder and every linked worktree's ``.git`` link are fingerprinted
(a ``stat`` each, hashed only when it moved) and checked before every git command (what it
reads) and after every sandboxed command (all but other worktrees'): a change stops the run
(``GitIntegrityError``) and every later git command of the process for that repository.
Only the worktree manager updates a fingerprint (adding, removing, pruning worktrees); a
worktree the factory removed from another process (``factory cancel``) is known by its
folder and git's record of it both gone: nothing git could read again (``Guard._released``).
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import stat
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness.caches import PROCESS, Memo
from harness.errors import GitError
from harness.git.env import HARDENING, run_git


class GitConfigRefused(GitError, exit_code=2):
    """The repository's git configuration sets a key that would run a program."""


class GitIntegrityError(GitError):
    """Something git reads changed during a run: the run stops, git is not run again."""


# keys that make git run a program and that no command-line setting switches off
REFUSED_KEYS = HARDENING.refused_keys


def _git_dirs(path: Path) -> tuple[Path, Path]:
    """The git directory of the checkout at ``path`` (a linked worktree's: the one its
    ``.git`` link names) and the one shared by the repository and its worktrees, read
    without running git."""
    dotgit = path / ".git"
    if not dotgit.is_file():  # a main checkout's folder, or a bare repository
        gitdir = (dotgit if dotgit.is_dir() else path).resolve()
        return gitdir, gitdir
    text = dotgit.read_text(encoding="utf-8", errors="replace").strip()
    if not text.startswith("gitdir:"):
        raise GitError(f"{path}: .git is not a link to a git directory")
    gitdir = (path / text.removeprefix("gitdir:").strip()).resolve()  # an absolute one stays
    commondir = gitdir / "commondir"
    if not commondir.is_file():
        return gitdir, gitdir
    return gitdir, (gitdir / commondir.read_text(encoding="utf-8").strip()).resolve()


def _normal(key: str) -> str:
    """``section.subsection.name`` -> ``section.*.name`` (section and name are lowercase)."""
    section, _, rest = key.partition(".")
    sub, dot, name = rest.rpartition(".")
    return f"{section}.*.{name}" if dot and sub else f"{section}.{rest}"


def refused(entries: list[tuple[str, str]]) -> list[str]:
    """The keys among ``(key, value)`` that make git run a program (in their original form)."""
    normal = ((key, _normal(key.lower())) for key, _ in entries)
    return [key for key, n in normal if any(fnmatch.fnmatchcase(n, p) for p in REFUSED_KEYS)]


def read_config_file(path: Path) -> list[tuple[str, str]]:
    """``(key, value)`` of one git configuration file, as git parses it (includes unread)."""
    code, out, err = run_git(["config", "--file", str(path), "--list", "--null"], path.parent)
    if code != 0:
        detail = err.strip().splitlines()
        raise GitConfigRefused(
            f"{path}: git cannot read this configuration file ({detail[-1] if detail else ''})"
        )
    items = out.decode("utf-8", "replace").split("\0")
    return [(key, value) for key, _, value in (i.partition("\n") for i in items if i)]


def worktree_records(common: Path, named: str = "") -> list[Path]:
    """git's record folder of each linked worktree (``worktrees/<id>``) whose name starts
    with ``named``, sorted; none when there are none, also when git deletes the folder, with
    its last record, while it is read (a removal beside this one)."""
    try:
        found = (common / "worktrees").iterdir()
        return sorted(r for r in found if r.name.startswith(named) and r.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def record_link(record: Path) -> Path | None:
    """The ``.git`` link file that git's worktree ``record`` (``worktrees/<id>``) names in
    its ``gitdir``; None while the record is being written or removed."""
    try:
        gitdir = (record / "gitdir").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return record / gitdir if gitdir else None  # an absolute one stays as it is


def config_files(common: Path) -> list[Path]:
    """The configuration files git reads in a repository (present or not)."""
    records = worktree_records(common)
    return [common / "config", *(r / "config.worktree" for r in [common, *records])]


def check_config_files(files: list[Path]) -> None:
    """Refuse a configuration that makes git run a program (one line, the keys named)."""
    for path in filter(Path.is_file, files):
        keys = refused(read_config_file(path))
        if keys:
            shown = ", ".join(sorted(set(keys))[:6])
            raise GitConfigRefused(
                f"{path}: the repository's git configuration sets {shown}, which make git "
                "run a program; the factory does not run on it (remove the keys, e.g. "
                "`git config --unset <key>`)"
            )


_Quick = tuple[object, ...] | None


def _stat_key(path: Path) -> tuple[int, ...] | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError:
        return (-1,)
    return (st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _quick(path: Path) -> _Quick:
    """What a ``stat`` says of ``path`` (and of its entries, for a folder)."""
    key = _stat_key(path)
    if key is None or len(key) < 2 or not stat.S_ISDIR(key[0]):
        return key
    try:
        names = sorted(child.name for child in path.iterdir())
    except OSError:
        return (*key, "unreadable")
    return (*key, tuple((name, _stat_key(path / name)) for name in names))


def _digest(path: Path) -> str:
    """The content of ``path``: a file's bytes, a link's target, a folder's entries."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "absent"
    except OSError as exc:
        return f"unreadable:{exc.errno}"
    if stat.S_ISLNK(st.st_mode):
        return "link:" + str(path.readlink())
    if stat.S_ISDIR(st.st_mode):
        h = hashlib.sha256(b"dir")
        try:
            names = sorted(child.name for child in path.iterdir())
        except OSError as exc:
            return f"unreadable:{exc.errno}"
        for name in names:
            h.update(f"{name}\0{_digest(path / name)}\0".encode())
        return h.hexdigest()
    if not stat.S_ISREG(st.st_mode):
        return f"special:{stat.S_IFMT(st.st_mode)}"
    try:
        return f"{stat.S_IMODE(st.st_mode):o}:" + hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        return f"unreadable:{exc.errno}"


@dataclass
class _Mark:
    quick: _Quick
    digest: str


class Guard:
    """The fingerprints of one repository's git configuration for the runs under way."""

    def __init__(self, common: Path) -> None:
        self.common = common
        self.users = 0
        self._marks: dict[Path, _Mark] = {}
        self._forgotten: set[Path] = set()  # of worktrees being removed: never watched again
        self._tripped: str | None = None
        self._lock = threading.Lock()
        # what every git command here reads, and what only those run in one worktree read
        # (not the hooks: the harness's git runs none, whatever the repository says; they
        # are checked after every sandboxed command)
        self._shared = (common / "config", common / "config.worktree")
        self._own: dict[Path, tuple[Path, ...]] = {}

    # -- watching -----------------------------------------------------------------
    def link_files(self) -> list[Path]:
        """The ``.git`` link file of every linked worktree, from git's own records (and, as
        it reads them, what each worktree's git commands read of its own)."""
        links: list[Path] = []
        own: dict[Path, tuple[Path, ...]] = {}
        for record in worktree_records(self.common):
            link = record_link(record)
            if link is not None:
                links.append(link)
                own[link.parent] = (link, record / "config.worktree")
        self._own = own
        return links

    def rescan_worktrees(self) -> None:
        """Under the harness's worktree lock, held alone (no removal under way), after git
        changed the worktree records (a prune) or to take up a worktree made before: watch
        every worktree git knows, forget the gone (a path forgotten earlier and made again is
        watched again). A new guard's first scan fingerprints everything git reads that could
        run a program; every configuration file it had not watched is checked."""
        configs = set(config_files(self.common))
        current = {*configs, self.common / "hooks", *self.link_files()}
        with self._lock:
            self._forgotten.clear()
            self._marks = {p: m for p, m in self._marks.items() if p in current}
            new = current - set(self._marks) - self._forgotten
            self._marks.update({path: _Mark(_quick(path), _digest(path)) for path in new})
        check_config_files(sorted(new & configs))

    def watch(self, record: Path) -> None:
        """The harness added the worktree of git's ``record`` (under its worktree lock): watch
        its ``.git`` link and its own configuration, without reading every other record."""
        link = record_link(record)
        if link is None:
            raise GitError(f"{record}: the worktree record the harness wrote is unreadable")
        config = record / "config.worktree"
        marks = {path: _Mark(_quick(path), _digest(path)) for path in (link, config)}
        with self._lock:
            self._own = {**self._own, link.parent: (link, config)}
            self._forgotten.difference_update(marks)
            self._marks.update(marks)
        check_config_files([config])

    def forget(self, worktree: Path) -> None:
        """The harness is about to remove ``worktree``: stop watching its ``.git`` link, for
        good (worktrees are removed side by side: nothing reads the records again after a
        removal, which would find another half deleted)."""
        link = worktree / ".git"
        forget = [link]
        with contextlib.suppress(OSError, UnicodeDecodeError):
            text = link.read_text(encoding="utf-8").strip()
            if text.startswith("gitdir:"):
                forget.append(Path(text.removeprefix("gitdir:").strip()) / "config.worktree")
        with self._lock:
            for path in forget:
                self._marks.pop(path, None)
            self._forgotten.update(forget)
            self._own = {w: own for w, own in self._own.items() if w != worktree}

    def _released(self, path: Path) -> bool:
        """Whether ``path`` is what git read of a worktree the factory removed from another
        process (``factory cancel``): the worktree's folder and git's record of it both gone,
        so that no git command reads it again. (A sandboxed command can empty its worktree,
        never remove the folder or touch the record.)"""
        return any(
            path in own and not worktree.exists() and not own[1].parent.exists()
            for worktree, own in self._own.items()
        )

    # -- verify -------------------------------------------------------------------
    def watches(self, worktree: Path) -> bool:
        """Whether ``worktree`` is a linked worktree of this repository, by git's records."""
        return worktree in self._own

    def verify(self, where: Path | None = None, *, command: bool = False) -> None:
        """Every fingerprint; or (``where``: where a git command is about to run) what that
        command reads: the shared configuration, that worktree's ``.git`` link and
        configuration; or (``command``: after a sandboxed command in ``where``) all but the
        other worktrees'."""
        with self._lock:
            if self._tripped is not None:
                raise GitIntegrityError(self._tripped)
            paths: Iterable[Path] = self._marks
            if where is not None and not command:
                paths = (*self._shared, *self._own.get(where, ()))
            elif where is not None:
                others = {p for w, own in self._own.items() if w != where for p in own}
                paths = [p for p in self._marks if p not in others]
            for path in paths:
                mark = self._marks.get(path)
                if mark is None or (quick := _quick(path)) == mark.quick:
                    continue
                if _digest(path) != mark.digest and not self._released(path):
                    self._tripped = (
                        f"{path} changed during the run; the factory stopped and runs no more "
                        "git in this repository until a person has looked at it"
                    )
                    raise GitIntegrityError(self._tripped)
                mark.quick = quick


@dataclass
class _Guards:
    """The guards of the runs under way, by common git directory."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    by_common: dict[Path, Guard] = field(default_factory=dict)


@contextlib.contextmanager
def guarded(repo_path: Path) -> Iterator[Guard]:
    """For the length of a run on ``repo_path``: refuse a dangerous configuration now, then
    pin it. Runs that overlap share one guard (the first one in scans)."""
    common = common_dir_of(repo_path)
    guards = PROCESS.part(_Guards)
    with guards.lock:
        guard = guards.by_common.get(common)
        if guard is None:
            guard = Guard(common)
            guard.rescan_worktrees()  # a dangerous configuration refused here
            guards.by_common[common] = guard
        guard.users += 1
    try:
        yield guard
    finally:
        with guards.lock:
            guard.users -= 1
            if guard.users <= 0:
                guards.by_common.pop(common, None)


def guard_for(repo_path: Path) -> Guard | None:
    """The guard of a run under way on the repository holding ``repo_path``, if any."""
    guards = PROCESS.part(_Guards)
    with guards.lock:
        if not guards.by_common:
            return None
    try:
        common = common_dir_of(repo_path)
    except (OSError, GitError):
        return None
    with guards.lock:
        return guards.by_common.get(common)


def _watching(worktree: Path) -> tuple[list[Guard], Guard | None]:
    """The guards of the runs under way, and the one that watches ``worktree`` (if any)."""
    guards = PROCESS.part(_Guards)
    with guards.lock:
        under_way = list(guards.by_common.values())
    return under_way, next((g for g in under_way if g.watches(worktree)), None)


def after_command(worktree: Path) -> None:
    """After a sandboxed command in ``worktree``: every fingerprint of its repository but
    the other worktrees' (checked before git next runs in one), so a command costs the same
    however many runs are under way; in a folder no run watches: every guarded repository."""
    under_way, guard = _watching(worktree)
    if guard is not None:
        guard.verify(worktree, command=True)
        return
    for each in under_way:
        each.verify()


def before_git(path: Path) -> None:
    """Before git runs in ``path``: what it will read is as it was pinned (a run is under way
    on its repository), else no configuration file makes it run a program (read again only
    when its ``stat`` moved). A worktree's guard is found from git's records, never from the
    ``.git`` link in it, which an agent could have rewritten."""
    under_way, guard = _watching(path)
    if guard is None:
        try:
            common = common_dir_of(path)
        except OSError:
            return  # not there: git itself will say so
        guard = next((g for g in under_way if g.common == common), None)
        if guard is None:
            check_repository(common)
            return
    guard.verify(path)


class _Commons(Memo[tuple[Path, Path]]):
    """(checkout, the ``stat`` of its ``.git``) -> its git directory and common one."""


def _dirs_of(path: Path) -> tuple[Path, Path]:
    key = (path, _stat_key(path / ".git"))
    if key[1] is not None and stat.S_ISDIR(key[1][0]):  # a folder: the same one, whatever
        key = (path, key[1][:2])  # git writes in it (its times move with every lock file)
    return PROCESS.part(_Commons).get(key, lambda: _git_dirs(path))


def common_dir_of(path: Path) -> Path:
    """The common git directory (``_git_dirs``), read again only when the ``.git`` of
    ``path`` changed (its link is fingerprinted too while a run is under way)."""
    return _dirs_of(path)[1]


def git_dir_of(path: Path) -> Path:
    """The git directory (``_git_dirs``), read again only when the ``.git`` of ``path`` changed."""
    return _dirs_of(path)[0]


@dataclass
class _Clean:
    """Configuration file -> its ``stat`` when last read clean (a file is read again only when
    its own ``stat`` moved: adding a worktree adds one file, it does not re-read the rest)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    stats: dict[Path, tuple[int, ...] | None] = field(default_factory=dict)


def check_repository(common: Path) -> None:
    """Outside a run too, git never runs in a repository whose configuration makes it run a
    program: each configuration file is read once, then again only when its ``stat`` moved
    (a worktree added beside sixteen others reads its own file, not all seventeen)."""
    seen = {f: _stat_key(f) for f in config_files(common)}
    clean = PROCESS.part(_Clean)
    with clean.lock:
        moved = [f for f, key in seen.items() if f not in clean.stats or clean.stats[f] != key]
    if not moved:
        return
    check_config_files(moved)
    with clean.lock:
        clean.stats.update((f, seen[f]) for f in moved)
        for gone in [f for f in clean.stats if f.is_relative_to(common) and f not in seen]:
            del clean.stats[gone]  # a removed worktree's file
