"""Carrying a branch between machines as a git bundle (a plan made without write access
is applied by a job that has it)."""

from __future__ import annotations

from pathlib import Path

from harness.errors import GitError
from harness.git.repo import GitRepo


def write_bundle(repo: GitRepo, branch: str, base_sha: str, path: Path) -> None:
    """``branch``'s commits since ``base_sha`` (which the receiver must have)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    repo.git("bundle", "create", "--quiet", str(path), f"refs/heads/{branch}", f"^{base_sha}")


def read_bundle(repo: GitRepo, path: Path, branch: str, expected_sha: str) -> None:
    """Set the local ``branch`` from the bundle; refuse if it does not hold ``expected_sha``."""
    repo.git("bundle", "verify", "--quiet", str(path))
    repo.git(
        "fetch", "--quiet", "--no-tags", str(path), f"+refs/heads/{branch}:refs/heads/{branch}"
    )
    got = repo.rev_parse(f"refs/heads/{branch}")
    if got != expected_sha:
        raise GitError(f"bundle {path.name}: {branch} is {got}, the plan says {expected_sha}")
