"""Worktrees and branch names: parallel creation, resume, idempotent cleanup, hostile titles,
no hooks, no shell."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.git.branches import branch_name, is_factory_branch
from harness.git.repo import GitRepo
from harness.git.worktrees import WorktreeManager

HOSTILE = [
    '"; rm -rf ~ #',
    "$(curl http://127.0.0.1:9/x)",
    "`id`",
    "line one\nline two",
    "refs/heads/main",
    "x" * 300,
    "emoji 🚀🔥 title",
    "../../etc/passwd",
    "branch..name",
    "ends with .lock",
    "@{upstream}",
    "-f --force",
    "\x00nul",
    "",
]


@pytest.mark.parametrize("title", HOSTILE)
def test_hostile_titles_give_safe_branch_names(title: str, empty_repo: Path) -> None:
    name = branch_name(12, title, salt="r-1")
    assert is_factory_branch(name)
    ok = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True)
    assert ok.returncode == 0
    path = WorktreeManager(GitRepo(empty_repo), empty_repo.parent / "wts").create(name, "main")
    assert path.is_dir()


def test_no_git_call_goes_through_a_shell(empty_repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / f"pwned-{uuid.uuid4().hex}"
    title = f"$(touch {marker}) `touch {marker}`; touch {marker}"
    repo = GitRepo(empty_repo)
    path = WorktreeManager(repo, tmp_path / "wts").create(branch_name(1, title, ""), "main")
    (path / "f.txt").write_text(title)
    GitRepo(path).commit_all(title)
    assert not marker.exists()


def test_hooks_never_run(empty_repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "hook-ran"
    hooks = empty_repo / ".git" / "hooks"
    for hook in ("pre-commit", "post-checkout", "post-commit", "commit-msg"):
        (hooks / hook).write_text(f"#!/bin/sh\ntouch {marker}\n")
        (hooks / hook).chmod(0o755)
    repo = GitRepo(empty_repo)
    path = WorktreeManager(repo, tmp_path / "wts").create(branch_name(2, "t", ""), "main")
    (path / "a.txt").write_text("a")
    GitRepo(path).commit_all("with hooks planted")
    assert not marker.exists()


def _create(args: tuple[str, str, int]) -> str:
    repo, base, i = args
    return str(
        WorktreeManager(GitRepo(repo), Path(base)).create(branch_name(i, f"t{i}", ""), "main")
    )


def test_parallel_creation_from_threads_and_processes(empty_repo: Path, tmp_path: Path) -> None:
    base = tmp_path / "wts"
    ctx = multiprocessing.get_context("spawn")
    created: list[str] = []
    # threads and processes at the same time, twice: git reads every worktree's metadata while
    # it adds one, so unsynchronised creations fail with "failed to read .../commondir"
    with ctx.Pool(4) as procs_pool, ThreadPoolExecutor(8) as thread_pool:
        for start in (1, 200):
            jobs = [(str(empty_repo), str(base), i) for i in range(start, start + 8)]
            pending = procs_pool.map_async(_create, [(r, b, i + 100) for r, b, i in jobs])
            created += list(thread_pool.map(_create, jobs))
            created += pending.get(120)
    assert len(set(created)) == 32
    threads, procs = created[:16], created[16:]
    assert all(Path(p).is_dir() for p in threads + procs)
    listed = WorktreeManager(GitRepo(empty_repo), base).list()
    assert len(listed) == 32


def test_resume_reuses_and_cleanup_is_idempotent(empty_repo: Path, tmp_path: Path) -> None:
    repo = GitRepo(empty_repo)
    wm = WorktreeManager(repo, tmp_path / "wts")
    name = branch_name(3, "t", "")
    path = wm.create(name, "main")
    (path / "work.txt").write_text("in progress")
    assert wm.create(name, "main") == path and (path / "work.txt").exists()  # resumed as is
    GitRepo(path).commit_all("wip")
    shutil.rmtree(path)  # vanished (reboot, tmpfs)
    again = wm.create(name, "main")  # re-attached to the branch with its commit
    assert (again / "work.txt").read_text() == "in progress"
    wm.remove(again)
    wm.remove(again)
    (tmp_path / "wts" / "stray").mkdir()
    # (prune also removes this user's idle empty tmpfs folders, which other states left)
    assert [p.name for p in wm.prune() if tmp_path in p.parents] == ["stray"]
    assert [p for p in wm.prune() if tmp_path in p.parents] == []
    assert wm.list() == [] and repo.branch_exists(name)  # the branch (the work) is kept
    assert os.listdir(tmp_path / "wts") == []
