"""The long-lived reader answers what the repository holds now, not what it held when it
started: refs and objects written by other git processes meanwhile, loose or packed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from harness.caches import PROCESS
from harness.git.reader import _KEEP, Reader, _Readers, reader
from harness.git.repo import GitRepo


def _git(repo: Path, *args: str) -> str:
    ident = ["-c", "user.name=t", "-c", "user.email=t@t"]
    done = subprocess.run(["git", *ident, *args], cwd=repo, capture_output=True, check=True)
    return done.stdout.decode().strip()


def _commit(repo: Path, name: str) -> str:
    (repo / name).write_text(f"{name}\n")
    _git(repo, "add", name)
    _git(repo, "commit", "-q", "-m", name)
    return _git(repo, "rev-parse", "HEAD")


def test_refs_and_objects_written_meanwhile_are_read_as_they_are_now(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path / "r", "main")
    first = _commit(repo.path, "a")
    assert repo.rev_parse("refs/heads/main") == first  # the reader starts here
    process = reader(repo.path, False)

    second = _commit(repo.path, "b")  # a loose ref and loose objects, by another process
    assert repo.rev_parse("refs/heads/main") == second
    assert repo.find([f"{second}:b"])[0] is not None

    _git(repo.path, "pack-refs", "--all")  # the ref now only in packed-refs
    _git(repo.path, "repack", "-a", "-d", "-q")  # the objects now only in a new pack
    third = _commit(repo.path, "c")
    _git(repo.path, "branch", "side", first)
    _git(repo.path, "pack-refs", "--all")
    _git(repo.path, "repack", "-a", "-d", "-q")
    assert repo.commits("refs/heads/main", "refs/heads/side", "refs/heads/gone") == [
        third,
        first,
        None,
    ]
    assert repo.tree_of(third) == _git(repo.path, "rev-parse", f"{third}^{{tree}}")
    _git(repo.path, "branch", "-D", "side")
    assert repo.rev_parse("refs/heads/side") is None
    assert reader(repo.path, False) is process  # all of it answered by the one process


def _running(found: Reader) -> subprocess.Popen[bytes] | None:
    """The ``cat-file`` a check reader runs, if any."""
    cmd = found._git.cat_file_header
    return cmd.proc if cmd is not None else None


def test_a_reader_whose_git_ended_is_started_again(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path / "r", "main")
    head = _commit(repo.path, "a")
    assert repo.rev_parse("HEAD") == head
    proc = _running(reader(repo.path, False))
    assert proc is not None
    proc.kill()
    proc.wait()
    assert repo.rev_parse("HEAD") == head
    assert _running(reader(repo.path, False)) is not proc


def test_names_that_could_be_options_or_requests_resolve_to_nothing(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path / "r", "main")
    head = _commit(repo.path, "a")
    assert repo.find(["--help", "HEAD\nrefs/heads/main", "", "HEAD"]) == [
        None,
        None,
        None,
        repo.find(["HEAD"])[0],
    ]
    assert repo.rev_parse("HEAD") == head


def test_a_process_keeps_a_few_readers_and_a_linked_worktree_none(tmp_path: Path) -> None:
    repos = []
    for i in range(_KEEP + 2):
        repo = GitRepo.init(tmp_path / f"r{i}", "main")
        _commit(repo.path, "a")
        assert repo.rev_parse("HEAD") is not None
        repos.append(repo)
    kept = PROCESS.part(_Readers).by_path
    assert len(kept) <= _KEEP and (repos[0].path, False) not in kept
    assert (repos[-1].path, False) in kept

    linked = tmp_path / "linked"
    _git(repos[-1].path, "worktree", "add", "-q", "-b", "w", str(linked))
    worktree = GitRepo(linked)
    assert worktree.rev_parse("HEAD") == repos[-1].rev_parse("HEAD")
    assert linked.resolve() not in kept  # its HEAD is its own: read by a process of its own


def test_a_forked_child_starts_a_reader_of_its_own(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path / "r", "main")
    head = _commit(repo.path, "a")
    parent = reader(repo.path, False)
    assert repo.rev_parse("HEAD") == head
    pid = os.fork()
    if pid == 0:  # the child: exits 0 only if it read through a new reader
        code = 1
        try:
            code = (
                0
                if repo.rev_parse("HEAD") == head and reader(repo.path, False) is not parent
                else 1
            )
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert repo.rev_parse("HEAD") == head  # the parent's reader still answers the parent
