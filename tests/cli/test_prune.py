"""``factory prune``: the local branches of finished attempts go, those an open issue may
still need stay; on a real repository with the local forge."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from harness.git.repo import GitRepo
from harness.git.worktrees import WorktreeManager, default_worktree_root
from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.factory_repo import git, make_factory_repo


def test_prune_deletes_the_branches_of_closed_issues_only(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    repo = make_factory_repo(tmp_path / "notes")
    state = tmp_path / "state"
    monkeypatch.setenv("FACTORY_STATE_DIR", str(state))
    for title in ("done", "waiting"):
        res = run_cli(capsys, "--repo", str(repo), "issue", "new", "--title", title, "--body", "b")
        assert res.code == 0, res.err
    done, waiting = "factory/issue-1-0123abcd", "factory/issue-2-4567cdef"
    git(repo, "branch", done)
    manager = WorktreeManager(GitRepo(repo), default_worktree_root(state))
    worktree = manager.create(waiting, "main")
    git(repo, "branch", "factory/notes")  # not the factory's shape: never touched
    with closing(Store.open(state)) as store:
        store.set_issue_state(1, "closed")
    worktree_of_done = manager.create(done, "main")

    res = run_cli(capsys, "--repo", str(repo), "prune", "--dry-run")
    assert res.code == 0, res.err
    assert f"would delete {done}" in res.out and waiting not in res.out
    assert "removed" not in res.out and "would remove" in res.out  # a dry run removes nothing
    assert GitRepo(repo).branch_exists(done)

    res = run_cli(capsys, "--repo", str(repo), "prune")
    assert res.code == 0, res.err
    assert f"deleted {done}" in res.out
    g = GitRepo(repo)
    assert not g.branch_exists(done) and not worktree_of_done.exists()
    assert g.branch_exists(waiting) and worktree.is_dir()
    assert g.branch_exists("factory/notes")
    manager.remove(worktree)  # the open issue's, kept by prune: not left on tmpfs


def test_prune_removes_the_empty_tmpfs_folders_deleted_states_left(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    """A state deleted with its worktrees gone leaves ``/dev/shm/factory-<tag>`` empty: prune
    removes such folders of this user once idle, never one that holds something."""
    import os
    import secrets

    repo = make_factory_repo(tmp_path / "notes")
    shm = Path("/dev/shm")
    if not shm.is_dir():
        return
    empty, used = (shm / f"factory-test{secrets.token_hex(4)}" for _ in range(2))
    empty.mkdir()
    used.mkdir()
    (used / "worktree").mkdir()
    try:
        for folder in (empty, used):
            os.utime(folder, (1, 1))  # idle for decades
        res = run_cli(capsys, "--repo", str(repo), "prune")
        assert res.code == 0, res.err
        assert not empty.exists() and used.is_dir()
    finally:
        for folder in (empty, used):
            if folder.exists():
                (folder / "worktree").exists() and (folder / "worktree").rmdir()
                folder.rmdir()
