"""Committing exactly the tree the tests ran on."""

from __future__ import annotations

from pathlib import Path

from harness.git.repo import GitRepo


def test_the_tested_tree_is_committed_on_head_once_and_names_cannot_fool_it(
    tmp_path: Path,
) -> None:
    repo = GitRepo.init(tmp_path / "r", "main")
    (repo.path / "a.txt").write_text("a\n")
    base = repo.commit_all("base")
    assert base is not None
    # a file named like the revision asked for: still read as the revision
    (repo.path / "HEAD^{commit}").write_text("x\n")
    tree = repo.stage_tree([])
    (repo.path / "later.txt").write_text("made after the tests\n")  # stays out
    new = repo.commit_tree(tree, "the change")
    assert new is not None and repo.rev_parse("HEAD") == new
    assert repo.rev_parse(f"{new}^") == base
    assert repo.tree_of(new) == tree
    assert repo.commit_tree(tree, "again") is None  # HEAD has it already
    assert repo.rev_parse("HEAD") == new


def test_a_first_commit_has_no_parent(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path / "r", "main")
    (repo.path / "a.txt").write_text("a\n")
    tree = repo.stage_tree([])
    new = repo.commit_tree(tree, "first")
    assert new is not None and repo.rev_parse("HEAD") == new
    assert repo.rev_parse(f"{new}^") is None
