"""The local forge passes the forge conformance suite, on a real repository."""

from __future__ import annotations

from pathlib import Path

from harness.forge.conformance import run_forge_conformance
from harness.forge.local import LocalForge
from harness.git.repo import GitRepo
from harness.store.db import Store
from tests.conftest import git


def test_local_forge_conformance(empty_repo: Path, tmp_path: Path) -> None:
    repo = GitRepo(empty_repo)
    forge = LocalForge(Store.open(tmp_path / "state"), repo)
    worktrees = tmp_path / "wt"

    def make_branch(name: str) -> str:
        path = worktrees / name.replace("/", "-")
        git(empty_repo, "worktree", "add", "-q", "-b", name, str(path), "main")
        (path / "feature.txt").write_text("one\n")
        sha = GitRepo(path).commit_all("feature")
        assert sha
        return sha

    def advance(name: str) -> str:
        path = worktrees / name.replace("/", "-")
        (path / "feature.txt").write_text("one\ntwo\n")
        sha = GitRepo(path).commit_all("more")
        assert sha
        return sha

    run_forge_conformance(forge, make_branch, advance)
    # the merge went through git: main has the change, and the checked-out tree too
    assert repo.read_blob("main", "feature.txt") == b"one\ntwo\n"
    assert (empty_repo / "feature.txt").read_text() == "one\ntwo\n"
    assert git(empty_repo, "status", "--porcelain") == ""


def test_merge_refuses_when_the_base_moved(empty_repo: Path, tmp_path: Path) -> None:
    repo = GitRepo(empty_repo)
    forge = LocalForge(Store.open(tmp_path / "state"), repo)
    number = forge.create_issue("t", "b", "a").number
    wt = tmp_path / "wt"
    git(empty_repo, "worktree", "add", "-q", "-b", "factory/issue-1-aa", str(wt), "main")
    (wt / "README.md").write_text("changed by the branch\n")
    head = GitRepo(wt).commit_all("branch edit")
    assert head
    pr = forge.open_pr(number, "factory/issue-1-aa", "main", "t", "b")
    (empty_repo / "README.md").write_text("changed on main\n")
    git(empty_repo, "commit", "-qam", "conflicting edit")
    before = repo.rev_parse("main")
    try:
        forge.merge_pr(pr.number, head)
    except Exception as exc:  # conflict: refused, nothing changed
        assert "conflict" in str(exc)
    else:
        raise AssertionError("a conflicting merge must be refused")
    assert repo.rev_parse("main") == before
