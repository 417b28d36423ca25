"""The shape of a change: git never reads a ``.git`` an agent planted, and a tree with a
gitlink, a ``.gitmodules``, a link out of the tree or an alias of a protected path is refused
(read from the object database, as a forge's branch would be)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.artifacts import GateReport
from harness.git import shape
from harness.git.repo import GitRepo
from harness.git.worktrees import WorktreeManager
from tests.conftest import git

PROTECTED = [".github/**", "factory_rules.md"]


def _commit(repo: Path, message: str = "change") -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def _problems(repo: Path, base: str, head: str = "HEAD") -> list[str]:
    return shape.tree_problems(GitRepo(repo), base, head, PROTECTED)


@pytest.fixture
def worktree(empty_repo: Path, tmp_path: Path) -> Path:
    return WorktreeManager(GitRepo(empty_repo), tmp_path / "wt").create("factory/x", "main")


def test_a_nested_git_file_naming_the_main_repository_is_never_opened(
    empty_repo: Path, worktree: Path
) -> None:
    main_head = GitRepo(empty_repo).rev_parse("main")
    (worktree / "leak").mkdir()
    (worktree / "leak" / ".git").write_text(f"gitdir: {empty_repo / '.git'}\n")
    (worktree / "sub").mkdir()
    git(worktree / "sub", "init", "-q")  # an empty nested repository
    repo = GitRepo(worktree)
    for call in (lambda: repo.stage_tree([]), repo.untracked, lambda: repo.working_diff("main")):
        with pytest.raises(shape.UnsafeTree) as refused:
            call()
        report = refused.value.outputs
        assert isinstance(report, GateReport)  # recorded with its type: reports find it
        (result,) = report.gates
        assert result.name == "tree_shape" and not result.passed
        assert "leak/.git: a .git file below the worktree's root" in result.evidence
        assert "sub/.git: a nested repository" in result.evidence
        assert main_head is not None and main_head not in result.evidence
    # nothing was staged: git never looked (no gitlink in the index)
    assert git(worktree, "ls-files", "--stage").count("160000") == 0


def test_the_scan_reads_no_entry_and_follows_no_link(tmp_path: Path) -> None:
    root = tmp_path / "w"
    (root / "a").mkdir(parents=True)
    (root / ".git").write_text("gitdir: elsewhere\n")  # the worktree's own link: fine
    os.symlink(tmp_path, root / "a" / "up")  # a loop through a link is not walked
    (root / "a" / ".git").mkdir()
    (root / "a" / ".git" / "config").write_text("x")
    os.symlink("/", root / ".GIT-not")  # not a .git name
    (root / "b").mkdir()
    os.symlink("/etc", root / "b" / ".git")
    assert shape.nested_git(root, ()) == [
        "a/.git: a nested repository (git would record it as a submodule)",
        "b/.git: a .git link below the worktree's root",
    ]
    assert shape.nested_git(root, skip=[root / "a", root / "b"]) == []


def test_a_linked_github_folder_is_an_alias_of_protected_paths(empty_repo: Path) -> None:
    base = git(empty_repo, "rev-parse", "HEAD").strip()
    (empty_repo / "ci" / "workflows").mkdir(parents=True)
    (empty_repo / "ci" / "workflows" / "x.yml").write_text("on: push\n")
    os.symlink("ci", empty_repo / ".github")
    _commit(empty_repo)
    problems = _problems(empty_repo, base)
    assert problems == [
        ".github/workflows/x.yml (really ci/workflows/x.yml, through a link) matches "
        "protected .github/**"
    ]
    # the same link already in production: a change to a file it shows is refused too
    base = git(empty_repo, "rev-parse", "HEAD").strip()
    (empty_repo / "ci" / "workflows" / "x.yml").write_text("on: pull_request\n")
    assert len(_problems(empty_repo, base, _commit(empty_repo))) == 1
    # and a file outside what the link shows is not
    (empty_repo / "ci" / "workflows" / "x.yml").write_text("on: push\n")
    (empty_repo / "README.md").write_text("# changed\n")
    assert _problems(empty_repo, base, _commit(empty_repo)) == []


def test_links_out_of_the_tree_into_git_or_into_protected_paths(empty_repo: Path) -> None:
    base = git(empty_repo, "rev-parse", "HEAD").strip()
    (empty_repo / ".github").mkdir()
    (empty_repo / ".github" / "ci.yml").write_text("on: push\n")
    base = _commit(empty_repo)
    (empty_repo / "d").mkdir()
    os.symlink("/etc/passwd", empty_repo / "abs")
    os.symlink("../../x", empty_repo / "d" / "up")
    os.symlink("../.git/config", empty_repo / "d" / "cfg")
    os.symlink(".github/ci.yml", empty_repo / "notes.yml")
    os.symlink("loop", empty_repo / "d" / "loop")
    (empty_repo / "e" / "f").mkdir(parents=True)
    (empty_repo / "e" / "f" / "a.txt").write_text("a\n")
    os.symlink("..", empty_repo / "e" / "f" / "up")  # inside: fine, and not walked forever
    _commit(empty_repo)
    assert _problems(empty_repo, base) == [
        "abs: a link to the absolute path /etc/passwd",
        "d/cfg: a link that leads out of the tree (../.git/config)",
        "d/loop: a link that leads out of the tree (loop)",
        "d/up: a link that leads out of the tree (../../x)",
        "notes.yml leads through a link to .github/ci.yml, which matches protected .github/**",
    ]


def test_gitlinks_and_gitmodules_are_refused(empty_repo: Path) -> None:
    base = git(empty_repo, "rev-parse", "HEAD").strip()
    (empty_repo / ".gitmodules").write_text(
        '[submodule "x"]\n\tpath = vendor/x\n\turl = ext::sh -c touch% /tmp/pwned\n'
    )
    git(empty_repo, "add", ".gitmodules")
    git(empty_repo, "update-index", "--add", "--cacheinfo", f"160000,{base},vendor/x")
    git(empty_repo, "commit", "-q", "-m", "a submodule")
    assert _problems(empty_repo, base) == [
        ".gitmodules: a change to .gitmodules (submodules are not accepted)",
        "vendor/x: a gitlink (a submodule's commit)",
    ]
    assert not Path("/tmp/pwned").exists()  # never run: nothing fetches it


def test_a_clean_change_passes_and_says_what_it_checked(empty_repo: Path) -> None:
    base = git(empty_repo, "rev-parse", "HEAD").strip()
    (empty_repo / "src").mkdir()
    (empty_repo / "src" / "app.py").write_text("x = 1\n")
    os.symlink("src/app.py", empty_repo / "app.py")
    _commit(empty_repo)
    assert _problems(empty_repo, base) == []
    assert shape.gate([]).passed and "no nested repository" in shape.gate([]).evidence
