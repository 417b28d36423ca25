"""A benchmark run leaves nothing behind: its folders, nor its states' worktrees on tmpfs."""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.scratch import scratch
from harness.git.repo import GitRepo
from harness.git.worktrees import WorktreeManager, default_worktree_root
from harness.sandbox.policy import fresh_root
from tests.factory_repo import make_factory_repo


def test_a_run_removes_its_folders_and_its_states_worktrees() -> None:
    with scratch() as root:
        made = Path(tempfile.mkdtemp())  # as every benchmark makes its folders
        repo = make_factory_repo(made / "repo")
        state = made / "state"
        state.mkdir()
        worktree = WorktreeManager(GitRepo(repo), default_worktree_root(state)).create(
            "factory/issue-1-0123abcd", "main"
        )
        fresh = fresh_root(state)
        fresh.mkdir(parents=True)
        assert made.parent == root and worktree.is_dir()
    assert not root.exists() and not worktree.exists() and not fresh.exists()
    assert tempfile.gettempdir() != str(root)
