"""``GitRepo``: read-side git operations on a repository, through GitPython.

Git is always called with argument lists (never through a shell) and with
hooks disabled, so nothing in a repository can run code through git.
"""

from __future__ import annotations

import os
from pathlib import Path

import git
from git.exc import BadName, GitCommandError, InvalidGitRepositoryError, NoSuchPathError

from harness.errors import GitError

# Options passed to every git invocation: hooks point nowhere.
SAFE_CONFIG = ("-c", "core.hooksPath=/dev/null", "-c", "protocol.file.allow=always")


def _environment() -> dict[str, str]:
    env = {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": os.environ.get("GIT_AUTHOR_NAME", "factory"),
        "GIT_AUTHOR_EMAIL": os.environ.get("GIT_AUTHOR_EMAIL", "factory@localhost"),
        "GIT_COMMITTER_NAME": os.environ.get("GIT_COMMITTER_NAME", "factory"),
        "GIT_COMMITTER_EMAIL": os.environ.get("GIT_COMMITTER_EMAIL", "factory@localhost"),
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

    def git(self, *args: str) -> str:
        """Run ``git <args>`` with hooks disabled; raise ``GitError`` on failure."""
        try:
            out: str = self._repo.git.execute(["git", *SAFE_CONFIG, *args])
        except GitCommandError as exc:
            detail = (exc.stderr or "").strip().splitlines()
            reason = detail[-1] if detail else str(exc.status)
            raise GitError(f"git {args[0] if args else ''}: {reason.removeprefix('stderr: ')}") from exc
        return out

    def rev_parse(self, ref: str) -> str | None:
        """The commit SHA ``ref`` names, or ``None`` if it names nothing."""
        try:
            return str(self._repo.commit(ref).hexsha)
        except (BadName, ValueError, GitCommandError):
            return None

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
        paths = [str(item.path) for item in commit.tree.traverse() if item.type == "blob"]
        return sorted(p for p in paths if p.startswith(prefix))

    def is_tracked_clean(self, path: str) -> bool:
        """True if ``path`` has no uncommitted changes in the working tree."""
        return not self.git("status", "--porcelain", "--", path).strip()
