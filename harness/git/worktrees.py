"""Worktrees for runs: created from the production branch, reused on resume, removed, pruned.

Registering a worktree writes git's record of it (what ``git worktree add --no-checkout``
writes) under an inter-process lock, one at a time, reading only the records that can be its
own; nothing writes the shared config. The checkout, which is what takes time, runs outside
the lock, in parallel.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from harness.digest import sha256
from harness.errors import GitError
from harness.git import integrity
from harness.git.branches import issue_of
from harness.git.repo import GitRepo

_SHM = Path("/dev/shm")  # noqa: S108 (a per-state-dir folder is made inside it)
_RECORD = "tmpfs"  # in the state folder: the name of its folder on tmpfs
_STATE = "state"  # in that folder: the state folder's path
_MIN_FREE = 512 * 1024 * 1024
_UID = os.getuid()
_OWNED = re.compile(r"detached--pid(\d+)--")  # create_owned's worktrees: the process that owns one


def tmpfs_folder(state_dir: Path) -> Path:
    """The state's own folder on tmpfs (docs/sandbox.md, "As root and as an ordinary user"):
    made fresh by ``mkdtemp`` (mode 0700, a name no one can guess) and its name recorded in
    the state folder; a recorded one that is gone, or is not this user's alone, is never used
    again: another is made."""
    found = recorded_tmpfs(state_dir)
    if found is not None:
        return found
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with (state_dir / f"{_RECORD}.lock").open("a") as handle:  # one folder per state
        fcntl.flock(handle, fcntl.LOCK_EX)
        found = recorded_tmpfs(state_dir)
        if found is None:
            found = Path(tempfile.mkdtemp(prefix="factory-", dir=_SHM))
            (found / _STATE).write_text(str(state_dir.resolve()), "utf-8")
            # cut short by a kill, the name read back names no folder of this user's alone
            (state_dir / _RECORD).write_text(f"{found}\n", "utf-8")
        return found


def recorded_tmpfs(state_dir: Path) -> Path | None:
    """The folder on tmpfs ``state_dir`` records, when it is still this user's alone."""
    with contextlib.suppress(OSError):
        recorded = Path((state_dir / _RECORD).read_text("utf-8").strip())
        info = recorded.lstat()
        mine = stat.S_ISDIR(info.st_mode) and info.st_uid == _UID
        if mine and not info.st_mode & 0o077:
            return recorded
    return None


def tree_roots(state_dir: Path) -> tuple[Path, Path, Path]:
    """Where the factory's trees go for the state ``state_dir``, side by side on one file
    system (a copy is a copy there), decided once: its worktrees (``default_worktree_root``),
    the per-check copies of a checkout (``-fresh``, which pruning worktrees never touches) and
    the trees ``commands.setup`` made, kept (``-setups``)."""
    root = default_worktree_root(state_dir)
    return root, root.parent / f"{root.name}-fresh", root.parent / f"{root.name}-setups"


def default_worktree_root(state_dir: Path) -> Path:
    """Where short-lived worktrees go: tmpfs when it has room (file creation there stays fast
    under churn), in the state's own folder there (``tmpfs_folder``), else
    ``<state>/worktrees``. ``FACTORY_WORKTREE_ROOT=state`` forces the fallback (``tmpfs``
    forces the first)."""
    forced = os.environ.get("FACTORY_WORKTREE_ROOT", "auto")
    if forced == "tmpfs" or (
        forced != "state"
        and _SHM.is_dir()
        and os.access(_SHM, os.W_OK)
        and shutil.disk_usage(_SHM).free > _MIN_FREE
    ):
        return tmpfs_folder(state_dir) / "worktrees"
    return state_dir / "worktrees"


def _empty_leftovers() -> list[Path]:
    """Remove this user's ``/dev/shm/factory-*`` folders untouched for an hour that are
    empty or whose state no longer names them: what the worktrees of states since deleted
    leave behind (a folder in use is named by its state)."""
    removed = []
    for folder in _SHM.glob("factory-*"):
        with contextlib.suppress(OSError):
            info = folder.lstat()
            mine = stat.S_ISDIR(info.st_mode) and info.st_uid == _UID
            if not mine or time.time() - info.st_mtime <= 3600:
                continue
            state = folder / _STATE
            orphan = state.is_file() and recorded_tmpfs(Path(state.read_text())) != folder
            if orphan or not any(folder.iterdir()):
                shutil.rmtree(folder)
                removed.append(folder)
    return removed


def remove_legacy(state_dir: Path) -> list[Path]:
    """The folders versions before ``tmpfs_folder`` made on tmpfs for ``state_dir`` (named
    by a hash of its path), when this user's, removed: ``prune`` then forgets their
    worktrees; a run still working in one makes its worktree again, as after a reboot."""
    tag = sha256(str(state_dir.resolve()))[:12]
    found = [_SHM / f"factory-{tag}{end}" for end in ("", "-fresh", "-setups")]
    old = [p for p in found if not p.is_symlink() and p.is_dir() and p.stat().st_uid == _UID]
    for folder in old:
        shutil.rmtree(folder, ignore_errors=True)
    return old


def _ended(path: Path) -> bool:
    """Whether ``path`` is a worktree of ``create_owned`` whose process is gone."""
    owner = _OWNED.match(path.name)
    return owner is not None and not Path(f"/proc/{owner[1]}").exists()


class WorktreeManager:
    def __init__(self, repo: GitRepo, base_dir: Path) -> None:
        self.repo = repo
        self.base_dir = base_dir.resolve()  # git records real paths
        self._common = integrity.common_dir_of(repo.path)

    @classmethod
    def of(cls, repo: GitRepo, state_dir: Path) -> WorktreeManager:
        """The factory's worktrees of ``repo`` for the state ``state_dir``: the one builder
        every run, command and check uses."""
        return cls(repo, default_worktree_root(state_dir))

    @contextlib.contextmanager
    def _locked(self, shared: bool = False) -> Iterator[None]:
        """Held while worktrees are added, removed or pruned, across threads and processes:
        alone, except by removals, which share it (each removes its own worktree; git
        deletes its record, and the integrity guard never watches again what a removal
        forgot), so sixteen runs that end together do not queue to remove theirs."""
        with (self._common / "factory-worktrees.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _records(self, path: Path | None = None) -> list[Path]:
        """git's worktree records, or (``path``) those that can be the record of ``path``:
        git names a worktree's record after its folder (adding a number when the name is
        taken), as ``_register`` does, so the others are never read."""
        return integrity.worktree_records(self._common, path.name if path else "")

    def _registered(self, path: Path | None = None) -> dict[Path, str | None]:
        """Linked worktree path -> checked-out branch (None when detached), read from git's own
        records without a process (under the lock); ``path``: only the records that can be its."""
        out: dict[Path, str | None] = {}
        for record in self._records(path):
            link = integrity.record_link(record)
            try:
                head = (record / "HEAD").read_text("utf-8").strip()
            except OSError:
                continue  # being written or removed
            if link is not None:
                out[link.parent] = (
                    head.removeprefix("ref: refs/heads/") if head.startswith("ref: ") else None
                )
        return out

    def create(self, branch: str, start_ref: str, exists: bool | None = None) -> Path:
        """A worktree on ``branch`` (new from ``start_ref``, or the existing one on resume);
        ``exists``: whether the branch exists, when the caller read it already."""
        path = self.base_dir / branch.replace("/", "--")
        if exists is None:  # a branch is this run's: read before the lock
            exists = self.repo.branch_exists(branch)
        start = None if exists else self.repo.rev_parse(start_ref)
        if not exists and start is None:
            raise GitError(f"cannot start {branch} at {start_ref}: it names no commit")
        with self._locked():  # registering reads the worktree records: one at a time
            known = self._registered(path)
            if known.get(path) == branch and path.is_dir():
                guard = integrity.guard_for(self.repo.path)
                if guard is not None:
                    guard.rescan_worktrees()  # a worktree made before: watched now
                return path
            if path in known or path.exists():
                self._drop(path)
            # a new branch is made by the checkout, from the commit the worktree starts at
            self._register(path, start or f"ref: refs/heads/{branch}")
        self._populate(path, branch if start else None)
        return path

    def create_detached(self, ref: str, name: str) -> Path:
        """A fresh worktree at ``ref`` with no branch; validation never reuses the implementer's."""
        path = self.base_dir / f"detached--{name}"
        sha = self.repo.rev_parse(ref)
        if sha is None:
            raise GitError(f"cannot check out {ref}: it names no commit")
        with self._locked():
            if path.exists() or path in self._registered(path):
                self._drop(path)
            self._register(path, sha)
        self._populate(path)
        return path

    def create_owned(self, ref: str, name: str) -> Path:
        """A detached worktree of this process alone (``factory doctor``'s): once the process
        has ended, however it ended, ``prune`` removes it."""
        return self.create_detached(ref, f"pid{os.getpid()}--{name}")

    def _register(self, path: Path, head: str) -> None:
        """Make ``path`` a linked worktree whose HEAD is ``head`` (a ``ref:`` line or a commit),
        with no checkout: the files ``git worktree add --no-checkout`` writes, as it writes them
        (gitrepository-layout(5)), without its three processes."""
        records = self._common / "worktrees"
        records.mkdir(exist_ok=True)
        number = 0
        while True:
            record = records / f"{path.name}{number or ''}"  # git's name: the folder's, numbered
            try:
                record.mkdir()
                break
            except FileExistsError:
                number += 1
        (record / "locked").write_text("initializing\n", "utf-8")
        self.base_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # no other user reads it
        path.mkdir(parents=True, exist_ok=True)
        (record / "gitdir").write_text(f"{path / '.git'}\n", "utf-8")
        (path / ".git").write_text(f"gitdir: {record}\n", "utf-8")
        (record / "commondir").write_text("../..\n", "utf-8")
        (record / "HEAD").write_text(f"{head}\n", "utf-8")
        (record / "locked").unlink()
        guard = integrity.guard_for(self.repo.path)
        if guard is not None:
            guard.watch(record)

    @staticmethod
    def _populate(path: Path, new_branch: str | None = None) -> None:
        """The checkout, outside the lock: it writes only this worktree's index and files;
        with ``new_branch``, that branch made at HEAD and checked out in the same process
        (refused if it was made meanwhile: nothing is moved)."""
        if new_branch is None:
            GitRepo(path).git("read-tree", "--reset", "-u", "HEAD")
        else:
            GitRepo(path).git("checkout", "--quiet", "--force", "-b", new_branch)

    def _record_of(self, path: Path) -> Path | None:
        """git's record folder (``worktrees/<id>``) of the linked worktree at ``path``."""
        for record in self._records(path):
            link = integrity.record_link(record)
            if link is not None and link.parent == path:
                return record
        return None

    def _drop(self, path: Path) -> None:
        """The worktree's folder, then git's record of it, deleted as ``git worktree remove
        --force --force`` deletes them, without a process (also when the folder is gone)."""
        guard = integrity.guard_for(self.repo.path)
        if guard is not None:
            guard.forget(path)
        record = self._record_of(path.resolve())
        shutil.rmtree(path, ignore_errors=True)
        if record is not None:
            shutil.rmtree(record, ignore_errors=True)
            with contextlib.suppress(OSError):  # git deletes the folder with its last record
                record.parent.rmdir()

    def remove(self, path: Path) -> None:
        """Remove a worktree; safe to repeat, also when its folder is already gone."""
        with self._locked(shared=True):
            self._drop(path)

    def prune(self) -> list[Path]:
        """Forget worktrees whose folders vanished, remove those of processes that ended
        (``create_owned``) and delete our folders git no longer knows."""
        with self._locked():
            self.repo.git("worktree", "prune")
            guard = integrity.guard_for(self.repo.path)
            if guard is not None:
                guard.rescan_worktrees()
            removed = [p for p in self._registered() if p.parent == self.base_dir and _ended(p)]
            for path in removed:
                self._drop(path)
            known = set(self._registered())
            for child in self.base_dir.glob("*"):  # nothing when the folder is not there yet
                if child.is_dir() and child not in known:
                    shutil.rmtree(child, ignore_errors=True)
                    removed.append(child)
            return removed + _empty_leftovers()

    def prune_finished(self, finished: Callable[[int], bool], dry_run: bool) -> list[str]:
        """Delete the ``factory/issue-<N>-…`` branches whose issue ``finished`` says is done
        (with their worktrees): never one checked out in the main checkout. The branch names
        deleted (or that would be, with ``dry_run``)."""
        main_branch = self.repo.head_branch()
        gone = []
        for branch in self.repo.git(
            "for-each-ref", "--format=%(refname:short)", "refs/heads/factory/"
        ).split():
            number = issue_of(branch)
            if number is None or branch == main_branch or not finished(number):
                continue
            gone.append(branch)
            if not dry_run:
                with self._locked():
                    for path, on in self._registered().items():
                        if on == branch:
                            self._drop(path)
                    self.repo.git("branch", "-D", "--", branch)
        return gone

    def list(self) -> list[Path]:
        return sorted(p for p in self._registered() if self.base_dir in p.parents)
