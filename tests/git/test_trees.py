"""Trees, objects and a linked worktree's names read by the process's long-lived readers
(``GitRepo.tree``, ``objects``, ``find``, ``tree_change``): what git's own commands answer,
without a git process per question."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import harness.git.repo as repo_module
from harness.git.repo import PATCH_BYTES, GitRepo
from harness.git.shape import read_tree
from harness.git.worktrees import WorktreeManager


def _git(repo: Path, *args: str) -> str:
    ident = ["-c", "user.name=t", "-c", "user.email=t@t"]
    done = subprocess.run(["git", *ident, *args], cwd=repo, capture_output=True, check=True)
    return done.stdout.decode().strip()


def _ls_tree(repo: Path, ref: str) -> dict[str, tuple[str, str]]:
    out = subprocess.run(
        ["git", "ls-tree", "-r", "-z", "--full-tree", ref], cwd=repo, capture_output=True
    ).stdout
    listed = {}
    for record in out.split(b"\0"):
        meta, tab, path = record.partition(b"\t")
        if tab:
            mode, _, sha = meta.decode().split(" ")
            listed[path.decode("utf-8", "surrogateescape")] = (mode, sha)
    return listed


def _repository(path: Path, object_format: str = "sha1") -> GitRepo:
    path.mkdir()
    _git(path, "init", "-q", "-b", "main", f"--object-format={object_format}")
    (path / "src" / "deep" / "er").mkdir(parents=True)
    (path / "src" / "deep" / "er" / "f.py").write_text("x = 1\n")
    (path / "src" / "app.py").write_text("print(1)\n")
    (path / "run.sh").write_text("#!/bin/sh\n")
    (path / "run.sh").chmod(0o755)
    (path / "ünï cödé.txt").write_text("names are bytes\n")
    (path / "link").symlink_to("src/app.py")
    _git(path, "add", "-A")
    sub = "1" * (64 if object_format == "sha256" else 40)
    _git(path, "update-index", "--add", "--cacheinfo", f"160000,{sub},vendor/lib")
    _git(path, "commit", "-q", "-m", "one")
    return GitRepo(path)


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_a_tree_lists_what_ls_tree_lists(tmp_path: Path, object_format: str) -> None:
    repo = _repository(tmp_path / "r", object_format)
    assert repo.tree("HEAD") == _ls_tree(repo.path, "HEAD")
    assert repo.list_tree("HEAD") == sorted(set(_ls_tree(repo.path, "HEAD")) - {"vendor/lib"})
    assert repo.list_tree("HEAD", "src/") == ["src/app.py", "src/deep/er/f.py"]
    shape = read_tree(repo, "HEAD")
    assert shape.links == {"link": "src/app.py"} and shape.modes["run.sh"] == "100755"
    with pytest.raises(repo_module.GitError):
        repo.tree("no-such-ref")


def test_a_new_commit_reads_only_the_trees_on_its_changed_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repository(tmp_path / "r")
    repo.tree("HEAD")
    (repo.path / "src" / "deep" / "er" / "f.py").write_text("x = 2\n")
    _git(repo.path, "commit", "-q", "-am", "two")
    asked: list[str] = []
    objects = GitRepo.objects

    def counted(self: GitRepo, shas: list[str]) -> dict[str, tuple[str, bytes]]:
        asked.extend(shas)
        return objects(self, shas)

    monkeypatch.setattr(GitRepo, "objects", counted)
    assert repo.tree("HEAD") == _ls_tree(repo.path, "HEAD")
    changed = {
        _git(repo.path, "rev-parse", f"HEAD:{p}") for p in ("", "src", "src/deep", "src/deep/er")
    }
    assert set(asked) == changed  # the root and the three folders on the path, nothing else


def _no_git_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a git process was started: {args}")

    monkeypatch.setattr(repo_module, "run_git", refused)


def test_a_linked_worktree_names_its_own_head_through_the_repositorys_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repository(tmp_path / "r")
    main_head = repo.rev_parse("HEAD")
    path = WorktreeManager(repo, tmp_path / "worktrees").create("feature", str(main_head))
    (path / "new.txt").write_text("new\n")
    _git(path, "add", "new.txt")
    _git(path, "commit", "-q", "-m", "in the worktree")
    own_head = _git(path, "rev-parse", "HEAD")
    linked = GitRepo(path)
    _no_git_process(monkeypatch)
    assert own_head != main_head
    assert linked.rev_parse("HEAD") == own_head and repo.rev_parse("HEAD") == main_head
    assert linked.find(["HEAD^{tree}"])[0].sha == _git(path, "rev-parse", "HEAD^{tree}")  # type: ignore[union-attr]
    assert linked.rev_parse("refs/heads/main") == main_head  # shared refs as they are
    assert linked.find([":new.txt", "@", "-h", "a\nb"]) == [None, None, None, None]
    assert linked.objects([own_head])[own_head][0] == "commit"


def test_a_tree_change_is_read_once_and_matches_the_change_since_the_merge_base(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repository(tmp_path / "r")
    base = repo.rev_parse("HEAD")
    (repo.path / "src" / "app.py").write_text("print(2)\n")
    (repo.path / "added.txt").write_text("a\nb\n")
    _git(repo.path, "add", "-A")
    _git(repo.path, "commit", "-q", "-m", "two")
    head = repo.rev_parse("HEAD")
    assert base is not None and head is not None
    tree = _git(repo.path, "rev-parse", "HEAD^{tree}")
    by_tree = repo.tree_change(base, tree)
    assert by_tree == repo.change(base, head, PATCH_BYTES)  # base is head's ancestor
    assert "+a\n+b" in by_tree[1] and repo.tree_diff(base, tree) == by_tree[1]
    assert repo.change(base, head, 10)[1].endswith(f"bytes of {len(by_tree[1])}]")
    _no_git_process(monkeypatch)
    assert repo.tree_change(base, head) == by_tree  # the commit's tree: kept
