"""``factory prune``: the local branches of finished attempts go, those an open issue may
still need stay; on a real repository with the local forge."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import pytest

from harness.git.repo import GitRepo
from harness.git.worktrees import (
    WorktreeManager,
    default_worktree_root,
    recorded_tmpfs,
    tmpfs_folder,
)
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
        pytest.skip("no /dev/shm here: the tmpfs folders prune removes live there")
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


def test_prune_removes_the_set_up_trees_a_killed_backtest_left(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    """A backtest killed before a case ended leaves that case's folder on tmpfs (its kept
    set-up trees, its check copies; its scratch state stays as evidence): prune removes it,
    unless a backtest is under way."""
    from harness.sandbox.policy import setups_root
    from harness.store.backtests import BACKTEST_LEASE
    from harness.store.leases import holder_id

    repo = make_factory_repo(tmp_path / "notes")
    state = tmp_path / "state"
    monkeypatch.setenv("FACTORY_STATE_DIR", str(state))
    case = state / "backtest" / "bt-0123456789ab" / "case-1" / "state"
    kept = setups_root(case) / "0123abcd"  # the case's own folder on tmpfs, named in it
    (kept / ".venv").mkdir(parents=True)
    holder = holder_id()  # this process: a backtest under way
    with closing(Store.open(state)) as store:
        store.acquire_lease(BACKTEST_LEASE, holder, 60.0)
    assert run_cli(capsys, "--repo", str(repo), "prune").code == 0
    assert kept.is_dir()
    with closing(Store.open(state)) as store:
        store.release_lease(BACKTEST_LEASE, holder)
    res = run_cli(capsys, "--repo", str(repo), "prune")
    assert res.code == 0, res.err
    assert not kept.exists() and recorded_tmpfs(case) is None and case.is_dir()
    assert "1 leftover worktree folder(s) removed" in res.out


def test_prune_removes_what_older_versions_made_on_tmpfs_and_the_folders_of_deleted_states(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    """A state from before ``tmpfs_folder``: its worktree in ``/dev/shm/factory-<hash of the
    state's path>``, its copies and kept set-ups beside it. The state keeps working (new
    worktrees go to a folder of its own, named in it); ``factory prune`` forgets the old
    worktree and removes the three old folders. A state's folder outlives the state only
    until prune finds it idle."""
    import hashlib
    import os
    import shutil

    repo = make_factory_repo(tmp_path / "notes")
    state = tmp_path / "state"
    monkeypatch.setenv("FACTORY_STATE_DIR", str(state))
    monkeypatch.setenv("FACTORY_WORKTREE_ROOT", "tmpfs")
    for title in ("before", "after"):
        res = run_cli(capsys, "--repo", str(repo), "issue", "new", "--title", title, "--body", "b")
        assert res.code == 0, res.err
    tag = hashlib.sha256(str(state.resolve()).encode()).hexdigest()[:12]
    old = [Path(f"/dev/shm/factory-{tag}{end}") for end in ("", "-fresh", "-setups")]
    for folder in old:
        folder.mkdir(mode=0o755)  # as an older version made them
    (old[2] / "kept").mkdir()
    g = GitRepo(repo)
    before = WorktreeManager(g, old[0]).create("factory/issue-1-0123abcd", "main")
    new = WorktreeManager.of(g, state).create("factory/issue-2-4567cdef", "main")
    assert new.parent == default_worktree_root(state) and new.parent.parent not in old
    gone = tmp_path / "gone"  # a deleted state's folder, idle for decades
    orphan = tmpfs_folder(gone)
    shutil.rmtree(gone)
    os.utime(orphan, (1, 1))

    try:
        res = run_cli(capsys, "--repo", str(repo), "prune")
        assert res.code == 0, res.err
        assert not any(folder.exists() for folder in (*old, before)) and new.is_dir()
        assert [p.name for p in WorktreeManager.of(g, state).list()] == [new.name]
        assert "factory--issue-1-0123abcd" not in git(repo, "worktree", "list")
        assert not orphan.exists() and tmpfs_folder(state) == new.parent.parent
    finally:
        for folder in (*old, orphan):
            shutil.rmtree(folder, ignore_errors=True)
