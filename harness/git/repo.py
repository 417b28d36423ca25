"""``GitRepo``: read-side git operations on a repository, through GitPython.

Git is always called with argument lists (never through a shell) and with
hooks disabled, so nothing in a repository can run code through git.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import git
from git.exc import BadName, GitCommandError, InvalidGitRepositoryError, NoSuchPathError

from harness.errors import GitError

_CLOCK = threading.local()


def git_seconds() -> float:
    """Seconds this thread has spent in git subprocesses (for step timings)."""
    return float(getattr(_CLOCK, "seconds", 0.0))


# Options passed to every git invocation: hooks point nowhere.
SAFE_CONFIG = (
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "protocol.file.allow=always",
)


def _environment() -> dict[str, str]:
    env = {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": os.environ.get("GIT_AUTHOR_NAME", "factory"),
        "GIT_AUTHOR_EMAIL": os.environ.get("GIT_AUTHOR_EMAIL", "factory@localhost"),
        "GIT_COMMITTER_NAME": os.environ.get("GIT_COMMITTER_NAME", "factory"),
        "GIT_COMMITTER_EMAIL": os.environ.get("GIT_COMMITTER_EMAIL", "factory@localhost"),
        # worktrees belong to the sandbox's uid when the factory runs as root; git refuses
        # such "dubious ownership" unless told otherwise in protected (environment) config
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "safe.directory",
        "GIT_CONFIG_VALUE_0": "*",
    }
    return env


class GitRepo:
    """A repository on disk (its main working tree or any worktree of it)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).resolve()
        try:
            self._repo = git.Repo(self.path)
        except (InvalidGitRepositoryError, NoSuchPathError) as exc:
            raise GitError(f"{self.path}: not a git repository") from exc
        self._repo.git.update_environment(**_environment())

    def git(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run ``git <args>`` with hooks disabled; raise ``GitError`` on failure. ``env`` adds
        variables to this one call's environment (never to argv or config)."""
        started = time.monotonic()
        try:
            out: str = self._repo.git.execute(["git", *SAFE_CONFIG, *args], env=env)
        except GitCommandError as exc:
            detail = (exc.stderr or "").strip().splitlines()
            reason = detail[-1] if detail else str(exc.status)
            raise GitError(
                f"git {args[0] if args else ''}: {reason.removeprefix('stderr: ')}"
            ) from exc
        finally:
            _CLOCK.seconds = getattr(_CLOCK, "seconds", 0.0) + time.monotonic() - started
        return out

    def rev_parse(self, ref: str) -> str | None:
        """The commit SHA ``ref`` names, or ``None`` if it names nothing."""
        try:
            return str(self._repo.commit(ref).hexsha)
        except (BadName, ValueError, GitCommandError):
            return None

    def is_ancestor(self, older: str, newer: str) -> bool:
        try:
            self.git("merge-base", "--is-ancestor", older, newer)
        except GitError:
            return False
        return True

    def branch_exists(self, name: str) -> bool:
        return self.rev_parse(f"refs/heads/{name}") is not None

    def read_blob(self, ref: str, path: str) -> bytes | None:
        """The bytes of ``path`` as committed on ``ref``, or ``None`` if absent."""
        try:
            commit = self._repo.commit(ref)
        except (BadName, ValueError, GitCommandError):
            return None
        try:
            blob = commit.tree / path
        except KeyError:
            return None
        if blob.type != "blob":
            return None
        data: bytes = blob.data_stream.read()
        return data

    def list_tree(self, ref: str, prefix: str = "") -> list[str]:
        """Paths of all files committed on ``ref`` under ``prefix``."""
        commit = self._repo.commit(ref)
        paths = [
            str(getattr(item, "path", ""))
            for item in commit.tree.traverse()
            if getattr(item, "type", "") == "blob"
        ]
        return sorted(p for p in paths if p.startswith(prefix))

    def is_tracked_clean(self, path: str) -> bool:
        """True if ``path`` has no uncommitted changes in the working tree."""
        return not self.git("status", "--porcelain", "--", path).strip()

    # -- writing ------------------------------------------------------------------
    @classmethod
    def init(cls, path: Path | str, branch: str) -> GitRepo:
        """Create a repository at ``path`` whose first branch is ``branch``."""
        Path(path).mkdir(parents=True, exist_ok=True)
        try:
            git.Repo.init(Path(path), initial_branch=branch)
        except GitCommandError as exc:
            raise GitError(f"git init: {exc.stderr.strip()}") from exc
        return cls(path)

    def commit_all(self, message: str) -> str | None:
        """Stage everything (deletions too) and commit; ``None`` if there was nothing to commit."""
        self.git("add", "--all")
        if not self.git("status", "--porcelain").strip():
            return None
        self.git("commit", "--no-verify", "--quiet", "-m", message)
        return self.rev_parse("HEAD")

    def head_branch(self) -> str | None:
        try:
            return str(self._repo.active_branch.name)
        except TypeError:
            return None  # detached

    def diff_numstat(self, base: str, head: str) -> list[tuple[int, int, str]]:
        """(added, deleted, path) per changed file; a binary file counts as one line changed."""
        rows: list[tuple[int, int, str]] = []
        for line in self.git("diff", "--numstat", "--no-renames", f"{base}...{head}").splitlines():
            added, deleted, path = line.split("\t", 2)
            rows.append(
                (int(added) if added != "-" else 1, int(deleted) if deleted != "-" else 0, path)
            )
        return rows

    def changed_paths(self, base: str, head: str) -> list[str]:
        return sorted(path for _, _, path in self.diff_numstat(base, head))

    def diff_text(self, base: str, head: str, max_bytes: int = 200_000) -> str:
        text = self.git("diff", "--no-color", "--no-ext-diff", f"{base}...{head}")
        if len(text) > max_bytes:
            return text[:max_bytes] + f"\n[diff cut at {max_bytes} bytes of {len(text)}]"
        return text

    def _checked_out_in(self, branch: str) -> Path | None:
        """The working tree where ``branch`` is checked out, if any."""
        current: Path | None = None
        for line in self.git("worktree", "list", "--porcelain").splitlines():
            if line.startswith("worktree "):
                current = Path(line.removeprefix("worktree "))
            elif line == f"branch refs/heads/{branch}" and current is not None:
                return current
        return None

    def merge_branch(self, base: str, branch: str, expected_head_sha: str, message: str) -> str:
        """Merge ``branch`` into ``base`` without a checkout; refuse a stale head or a conflict.

        The ref update carries the old value, so a base that moved meanwhile is refused. If
        ``base`` is checked out in a clean working tree, that tree is brought along.
        """
        head = self.rev_parse(f"refs/heads/{branch}")
        if head != expected_head_sha:
            raise GitError(f"merge: {branch} is at {head}, expected {expected_head_sha}")
        old = self.rev_parse(f"refs/heads/{base}")
        if old is None:
            raise GitError(f"merge: branch {base} does not exist")
        try:
            new = self.merge_commit(old, head, message)
        except GitError as exc:
            raise GitError(f"merge: {branch} conflicts with {base}") from exc
        self.advance(base, old, new, message)
        return new

    def merge_commit(self, base_sha: str, head_sha: str, message: str) -> str:
        """The merge commit of two commits, made without touching any ref or checkout."""
        tree = self.git("merge-tree", "--write-tree", "--no-messages", base_sha, head_sha)
        return self.git(
            "commit-tree", tree.split()[0], "-p", base_sha, "-p", head_sha, "-m", message
        ).strip()

    def revert_commit(self, merge_sha: str, message: str) -> str:
        """A commit on top of ``merge_sha`` restoring its first parent's tree (no ref moves)."""
        tree = self.tree_of(f"{merge_sha}^1")
        if tree is None:
            raise GitError(f"revert: {merge_sha[:12]} has no parent")
        return self.git("commit-tree", tree, "-p", merge_sha, "-m", message).strip()

    def advance(self, branch: str, old: str, new: str, message: str) -> None:
        """Move ``branch`` from ``old`` to ``new`` (refused if it moved meanwhile); a clean
        working tree that has it checked out is brought along."""
        checkout = self._checked_out_in(branch)
        clean = checkout is not None and not GitRepo(checkout).git("status", "--porcelain").strip()
        self.git("update-ref", "-m", message, f"refs/heads/{branch}", new, old)
        if checkout is not None and clean:
            GitRepo(checkout).git("read-tree", "-m", "-u", old, new)

    def revert_merge(self, branch: str, merge_sha: str, message: str) -> str:
        """Undo ``merge_sha`` on ``branch`` with a new commit restoring its first parent's tree.

        Only while ``merge_sha`` is still the head of ``branch``; otherwise a person decides."""
        if self.rev_parse(f"refs/heads/{branch}") != merge_sha:
            raise GitError(f"revert: {branch} moved past {merge_sha[:12]}; revert it by hand")
        new = self.revert_commit(merge_sha, message)
        self.advance(branch, merge_sha, new, message)
        return new

    def stage_tree(self, exclude: list[str] | None = None) -> str:
        """Stage everything in this working tree (but ``exclude``) and return the tree SHA."""
        specs = [f":(exclude,literal){p}" for p in exclude or []]
        self.git("add", "--all", "--", ".", *specs)
        return self.git("write-tree").strip()

    def untracked(self) -> list[str]:
        """Untracked, not ignored paths (folders as one entry)."""
        out = self.git("ls-files", "--others", "--exclude-standard", "--directory")
        return [line.rstrip("/") for line in out.splitlines() if line]

    def tree_of(self, ref: str) -> str | None:
        """The tree SHA of commit ``ref`` (read through GitPython's running ``cat-file``)."""
        try:
            return str(self._repo.commit(ref).tree.hexsha)
        except (BadName, ValueError, GitCommandError):
            return None

    def working_diff(self, base: str, max_bytes: int = 200_000) -> str:
        """The diff of this working tree (new files included) against ``base``."""
        self.git("add", "--all")
        text = self.git("diff", "--cached", "--no-color", "--no-ext-diff", base)
        if len(text) > max_bytes:
            return text[:max_bytes] + f"\n[diff cut at {max_bytes} bytes of {len(text)}]"
        return text

    def commit_tree(self, tree: str, message: str) -> str | None:
        """Commit exactly ``tree`` on top of HEAD (e.g. the tree the tests ran on); ``None`` if
        HEAD already has it. Files made later (build or test artifacts) stay out."""
        parent = self.rev_parse("HEAD")
        if parent is not None and self.tree_of(parent) == tree:
            return None
        args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
        new = self.git(*args).strip()
        self.git("update-ref", "-m", "factory: commit", "HEAD", new, *([parent] if parent else []))
        self.git("read-tree", tree)
        return new
