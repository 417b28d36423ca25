"""The local forge passes the forge conformance suite, on a real repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ForgeError
from harness.forge.conformance import run_forge_conformance
from harness.forge.local import LocalForge
from harness.git.repo import CheckoutNotClean, GitRepo
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


def _feature_branch(repo: Path, tmp_path: Path, name: str, file: str = "feature.txt") -> str:
    wt = tmp_path / name.replace("/", "-")
    git(repo, "worktree", "add", "-q", "-b", name, str(wt), "main")
    (wt / file).write_text("from the factory\n")
    head = GitRepo(wt).commit_all("feature")
    assert head
    return head


def test_an_untracked_file_stays_and_the_next_commit_reverts_nothing(
    empty_repo: Path, tmp_path: Path
) -> None:
    """As ``git pull`` would: the checkout moves under an untracked file the change does not
    touch, and the maintainer's next commit is exactly their own change."""
    repo = GitRepo(empty_repo)
    forge = LocalForge(Store.open(tmp_path / "state"), repo)
    number = forge.create_issue("t", "b", "a").number
    head = _feature_branch(empty_repo, tmp_path, "factory/issue-1-aa")
    pr = forge.open_pr(number, "factory/issue-1-aa", "main", "t", "b")
    (empty_repo / "notes.txt").write_text("the maintainer's own notes\n")  # untracked only

    merged = forge.merge_pr(pr.number, head)
    assert repo.rev_parse("main") == merged  # the ref, the index and the files together
    assert (empty_repo / "feature.txt").read_text() == "from the factory\n"
    assert (empty_repo / "notes.txt").read_text() == "the maintainer's own notes\n"
    assert git(empty_repo, "status", "--porcelain").strip() == "?? notes.txt"

    git(empty_repo, "add", "notes.txt")
    git(empty_repo, "commit", "-q", "-m", "notes")
    assert git(empty_repo, "show", "--name-status", "--format=", "HEAD").split() == [
        "A",
        "notes.txt",
    ]  # reverts nothing of the merge
    assert repo.read_blob("main", "feature.txt") == b"from the factory\n"


def test_an_untracked_file_where_the_change_writes_holds_production(
    empty_repo: Path, tmp_path: Path
) -> None:
    repo = GitRepo(empty_repo)
    forge = LocalForge(Store.open(tmp_path / "state"), repo)
    number = forge.create_issue("t", "b", "a").number
    head = _feature_branch(empty_repo, tmp_path, "factory/issue-1-aa")
    pr = forge.open_pr(number, "factory/issue-1-aa", "main", "t", "b")
    before = repo.rev_parse("main")
    (empty_repo / "feature.txt").write_text("the maintainer's draft\n")  # the same path

    with pytest.raises(ForgeError) as refused:
        forge.merge_pr(pr.number, head)
    message = str(refused.value)
    assert "\n" not in message and "feature.txt" in message and "git stash -u" in message
    assert "would overwrite" in message
    assert repo.rev_parse("main") == before  # the ref stayed with the index and the files
    assert (empty_repo / "feature.txt").read_text() == "the maintainer's draft\n"  # kept
    assert forge.store.pr(pr.number).state == "open"

    (empty_repo / "feature.txt").unlink()  # moved away: the merge goes through
    merged = forge.merge_pr(pr.number, head)
    assert repo.rev_parse("main") == merged
    assert git(empty_repo, "status", "--porcelain") == ""


def test_a_modified_file_holds_a_revert_too(empty_repo: Path, tmp_path: Path) -> None:
    repo = GitRepo(empty_repo)
    head = _feature_branch(empty_repo, tmp_path, "factory/issue-2-bb")
    merged = repo.merge_branch("main", "factory/issue-2-bb", head, "merge")
    (empty_repo / "README.md").write_text("edited by hand\n")
    with pytest.raises(CheckoutNotClean, match=r"README\.md"):
        repo.revert_merge("main", merged, "revert")
    assert repo.rev_parse("main") == merged
    assert (empty_repo / "README.md").read_text() == "edited by hand\n"
    git(empty_repo, "checkout", "README.md")
    reverted = repo.revert_merge("main", merged, "revert")
    assert repo.rev_parse("main") == reverted and not (empty_repo / "feature.txt").exists()
    assert git(empty_repo, "status", "--porcelain") == ""


def test_a_checkout_whose_index_is_stale_still_moves(empty_repo: Path, tmp_path: Path) -> None:
    """A checkout copied or touched: the file's stat no longer matches the index, its content
    does. The merge refreshes the index before it moves the files (read-tree said "Entry
    'README.md' not uptodate" and every merge stopped)."""
    import os

    repo = GitRepo(empty_repo)
    head = _feature_branch(empty_repo, tmp_path, "factory/issue-5-ee", "README.md")
    os.utime(empty_repo / "README.md", (1, 1))
    merged = repo.merge_branch("main", "factory/issue-5-ee", head, "merge")
    assert repo.rev_parse("main") == merged
    assert (empty_repo / "README.md").read_text() == "from the factory\n"
    assert git(empty_repo, "status", "--porcelain") == ""


def test_the_factorys_own_state_in_the_checkout_is_not_a_change(
    empty_repo: Path, tmp_path: Path
) -> None:
    state = empty_repo / ".state"
    (state / "runs").mkdir(parents=True)
    (state / "runs" / "state.db").write_bytes(b"x")
    repo = GitRepo(empty_repo, own=[state])
    head = _feature_branch(empty_repo, tmp_path, "factory/issue-3-cc")
    merged = repo.merge_branch("main", "factory/issue-3-cc", head, "merge")
    assert (empty_repo / "feature.txt").exists() and (state / "runs" / "state.db").exists()
    assert git(empty_repo, "status", "--porcelain", "--untracked-files=no") == ""
    assert repo.rev_parse("main") == merged
    (empty_repo / ".state-not").write_text("the maintainer's\n")  # a sibling name still counts
    head = _feature_branch(empty_repo, tmp_path, "factory/issue-4-dd", ".state-not")
    with pytest.raises(CheckoutNotClean, match=r"\.state-not"):
        repo.merge_branch("main", "factory/issue-4-dd", head, "merge")


def test_a_merge_commits_subject_links_nothing_and_hides_nothing(
    empty_repo: Path, tmp_path: Path
) -> None:
    """A title that would link an issue, a person and a site on GitHub: the merge commit's
    subject breaks each link with a space a reader sees, never an invisible character."""
    from harness.forge.neutral import JOINER, plain

    repo = GitRepo(empty_repo)
    forge = LocalForge(Store.open(tmp_path / "state"), repo)
    number = forge.create_issue("t", "b", "a").number
    head = _feature_branch(empty_repo, tmp_path, "factory/issue-1-aa")
    title = plain("Fixes #12 for @bob, see https://example.com")  # as a PR's title is made
    assert JOINER in title
    pr = forge.open_pr(number, "factory/issue-1-aa", "main", title, "b")
    merged = forge.merge_pr(pr.number, head)
    said = git(empty_repo, "log", "-1", "--format=%s", merged).strip()
    assert JOINER not in said and "#12" not in said and "@bob" not in said, said
    assert said == "Merge factory/issue-1-aa: Fixes # 12 for @ bob, see https: //example.com"
