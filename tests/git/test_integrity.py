"""No repository can turn the harness's git against it: configuration outside the repository
is never read, the repository's own is refused when it runs programs and pinned for a run."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.git import integrity
from harness.git.integrity import GitConfigRefused, GitIntegrityError
from harness.git.repo import GitRepo
from harness.git.worktrees import WorktreeManager
from tests.factory_repo import git


def small_repo(path: Path) -> GitRepo:
    repo = GitRepo.init(path, "main")
    (path / "a.txt").write_text("a\n")
    repo.commit_all("first")
    return repo


def plant_filter(common: Path, marker: Path, name: str = "evil") -> None:
    """What an escaped agent would write: a filter driver and an attribute that selects it."""
    with (common / "config").open("a") as handle:
        handle.write(f'[filter "{name}"]\n\tclean = touch {marker}\n\tsmudge = touch {marker}\n')
    (common / "info").mkdir(exist_ok=True)
    (common / "info" / "attributes").write_text(f"* filter={name}\n")


def test_a_filter_planted_mid_run_never_runs_and_stops_git(tmp_path: Path) -> None:
    repo = small_repo(tmp_path / "r")
    marker = tmp_path / "PWNED"
    with integrity.guarded(repo.path):
        (repo.path / "b.txt").write_text("b\n")
        plant_filter(repo.path / ".git", marker)
        with pytest.raises(GitIntegrityError, match=r"\.git/config changed during the run"):
            repo.commit_all("second")
        (repo.path / ".git" / "config").write_text("[core]\n")  # put back: still stopped
        with pytest.raises(GitIntegrityError):
            repo.rev_parse("HEAD")
    assert not marker.exists()


def test_outside_a_run_the_planted_filter_is_refused_and_plain_git_would_run_it(
    tmp_path: Path,
) -> None:
    repo = small_repo(tmp_path / "r")
    marker = tmp_path / "PWNED"
    repo.rev_parse("HEAD")  # checked once while clean
    plant_filter(repo.path / ".git", marker)
    (repo.path / "b.txt").write_text("b\n")
    with pytest.raises(GitConfigRefused, match=r"filter\.evil\.clean"):
        repo.git("add", "b.txt")
    assert not marker.exists()
    git(repo.path, "add", "b.txt")  # the control: the driver is real, and plain git runs it
    assert marker.exists()


def test_hooks_and_worktree_links_are_pinned(tmp_path: Path) -> None:
    repo = small_repo(tmp_path / "r")
    manager = WorktreeManager(repo, tmp_path / "wt")
    with integrity.guarded(repo.path):
        path = manager.create("factory/issue-1-0123abcd", "main")
        GitRepo(path).git("status", "--porcelain")  # the harness's own worktree is fine
        manager.remove(path)
        path = manager.create("factory/issue-2-0123abcd", "main")
        (path / ".git").chmod(0o644)
        (path / ".git").write_text(f"gitdir: {tmp_path}/elsewhere\n")
        with pytest.raises(GitIntegrityError, match="changed during the run"):
            GitRepo(path).git("status")  # what git would read there moved
        with pytest.raises(GitIntegrityError, match="changed during the run"):
            GitRepo(repo.path).git("status")  # and nothing runs in the repository after
    with integrity.guarded(repo.path):
        path = manager.create("factory/issue-3-0123abcd", "main")
        (path / ".git").chmod(0o644)
        (path / ".git").write_text(f"gitdir: {tmp_path}/elsewhere\n")
        GitRepo(repo.path).git("status")  # git in the main checkout does not read that link
        other = manager.create("factory/issue-4-0123abcd", "main")
        integrity.after_command(other)  # a command elsewhere could not have reached it
        with pytest.raises(GitIntegrityError, match="changed during the run"):
            integrity.after_command(path)  # as after a sandboxed command in it
    with integrity.guarded(repo.path):
        hook = repo.path / ".git" / "hooks" / "post-checkout"
        hook.write_text("#!/bin/sh\ntouch /nowhere\n")
        with pytest.raises(GitIntegrityError, match="hooks changed during the run"):
            integrity.after_command(manager.create("factory/issue-5-0123abcd", "main"))


def test_worktrees_removed_side_by_side_trip_nothing_and_one_made_again_is_pinned(
    tmp_path: Path,
) -> None:
    """Removals share the worktree lock: a rescan by one never watches again what another is
    deleting (no false alarm), and a checkout made again at a path removed before is watched
    again (a rebuilt candidate's)."""
    repo = small_repo(tmp_path / "r")
    manager = WorktreeManager(repo, tmp_path / "wt")
    with integrity.guarded(repo.path):
        paths = [manager.create(f"factory/issue-{i}-0123abcd", "main") for i in range(1, 7)]
        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(manager.remove, paths))
        integrity.after_command(repo.path)  # a folder no run watches: everything
        GitRepo(repo.path).git("status")
        again = manager.create("factory/issue-1-0123abcd", "main")
        assert again == paths[0]
        (again / ".git").chmod(0o644)
        (again / ".git").write_text(f"gitdir: {tmp_path}/elsewhere\n")
        with pytest.raises(GitIntegrityError, match="changed during the run"):
            integrity.after_command(again)


_REMOVED_ELSEWHERE = """
import sys
from pathlib import Path
from harness.git.repo import GitRepo
from harness.git.worktrees import WorktreeManager
repo, base, path = map(Path, sys.argv[1:])
WorktreeManager(GitRepo(repo), base).remove(path)
"""


def test_a_worktree_the_factory_removed_in_another_process_trips_nothing(
    tmp_path: Path,
) -> None:
    """``factory cancel`` in another process removes a checkout this run's guard watches:
    its folder and git's record of it both gone, git can read nothing of it again, and the
    run goes on. Its ``.git`` link gone with the folder still there is still a change."""
    repo = small_repo(tmp_path / "r")
    manager = WorktreeManager(repo, tmp_path / "wt")
    with integrity.guarded(repo.path):
        released = manager.create("factory/issue-1-0123abcd", "main")
        kept = manager.create("factory/issue-2-0123abcd", "main")
        argv = [sys.executable, "-c", _REMOVED_ELSEWHERE, str(repo.path), str(manager.base_dir)]
        subprocess.run([*argv, str(released)], check=True)
        assert not released.exists()
        integrity.after_command(repo.path)  # a folder no run watches: every fingerprint
        GitRepo(kept).git("status")
        GitRepo(repo.path).git("status")
        (kept / ".git").chmod(0o644)
        (kept / ".git").unlink()  # the link alone: git there would look further up
        with pytest.raises(GitIntegrityError, match="changed during the run"):
            integrity.after_command(repo.path)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("filter.lfs.clean", "sh -c x"),
        ("diff.pdf.textconv", "x"),
        ("merge.ours.driver", "x"),
        ("credential.https://example.com.helper", "store"),
        ("include.path", "../x"),
        ("url.https://evil.example/.insteadOf", "https://github.com/"),
        ("gpg.ssh.program", "x"),
    ],
)
def test_a_config_that_runs_programs_is_refused_at_the_start(
    tmp_path: Path, key: str, value: str
) -> None:
    repo = small_repo(tmp_path / "r")
    git(repo.path, "config", key, value)
    with pytest.raises(GitConfigRefused, match=key.split(".")[0]), integrity.guarded(repo.path):
        pass
    git(repo.path, "config", "--unset", key)
    with integrity.guarded(repo.path):
        repo.rev_parse("HEAD")


def test_keys_overridden_on_every_command_are_allowed_and_never_run(tmp_path: Path) -> None:
    """A husky-style hooks folder, a monitor, a pager, an editor: set in the repository, never
    run by the harness (its command-line settings win), so the repository is not refused."""
    repo = small_repo(tmp_path / "r")
    marker = tmp_path / "PWNED"
    hooks = repo.path / ".husky"
    hooks.mkdir()
    for hook in ("pre-commit", "commit-msg", "post-commit", "reference-transaction"):
        (hooks / hook).write_text(f"#!/bin/sh\ntouch {marker}.{hook}\n")
        (hooks / hook).chmod(0o755)
    for key, value in (
        ("core.hooksPath", ".husky"),
        ("core.fsmonitor", f"{hooks}/pre-commit"),
        ("core.pager", f"touch {marker}.pager"),
        ("core.editor", f"touch {marker}.editor"),
        ("sequence.editor", f"touch {marker}.seq"),
        ("core.sshCommand", f"touch {marker}.ssh"),
        ("gpg.program", f"touch {marker}.gpg"),
        ("commit.gpgSign", "true"),
    ):
        git(repo.path, "config", key, value)
    with integrity.guarded(repo.path):
        (repo.path / "b.txt").write_text("b\n")
        assert repo.commit_all("second") is not None
        repo.git("status")
    assert list(tmp_path.glob("PWNED*")) == []


def test_global_and_environment_config_are_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = small_repo(tmp_path / "r")
    home, marker = tmp_path / "home", tmp_path / "PWNED"
    home.mkdir()
    (home / "attributes").write_text("* filter=evil diff=evil\n")
    (home / ".gitconfig").write_text(
        f"[core]\n\tattributesFile = {home}/attributes\n\tfsmonitor = touch {marker}.fsmonitor\n"
        f'[filter "evil"]\n\tclean = touch {marker}\n\tsmudge = touch {marker}\n'
        f'[diff "evil"]\n\ttextconv = touch {marker}.textconv;\n'
    )
    hostile = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home),
        "GIT_CONFIG_PARAMETERS": f"'diff.external'='touch {marker}.ext'",
        "GIT_EXTERNAL_DIFF": f"touch {marker}.ext2",
        "GIT_DIR": str(tmp_path / "nowhere"),
    }
    # the control: plain git with this home runs the filter
    (repo.path / "a.txt").write_text("changed\n")
    control = subprocess.run(
        ["git", "add", "a.txt"],
        cwd=repo.path,
        env={**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home)},
        capture_output=True,
        check=False,
    )
    assert control.returncode == 0 and marker.exists()
    for made in tmp_path.glob("PWNED*"):
        made.unlink()
    git(repo.path, "reset", "-q")

    for key, value in hostile.items():
        monkeypatch.setenv(key, value)
    base = repo.rev_parse("HEAD")
    assert base is not None
    (repo.path / "b.txt").write_text("b\n")
    head = repo.commit_all("second")
    assert head is not None
    assert "+changed" in repo.diff_text(base, head, 200_000)
    assert repo.read_blob(head, "a.txt") == b"changed\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "r"]  # no marker at all


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")
def test_a_worktree_owned_by_the_sandbox_uid_is_still_readable(tmp_path: Path) -> None:
    repo = small_repo(tmp_path / "r")
    manager = WorktreeManager(repo, tmp_path / "wt")
    path = manager.create("factory/issue-5-0123abcd", "main")
    for item in [path, *path.rglob("*")]:
        os.lchown(item, 65534, 65534)
    bare_env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    plain = subprocess.run(
        ["git", "status", "--porcelain"],
        cwd=path,
        env=bare_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert plain.returncode != 0 and "dubious ownership" in plain.stderr  # the control
    (path / "new.txt").write_text("x\n")
    assert GitRepo(path).untracked() == ["new.txt"]
    assert GitRepo(path).stage_tree([])


def test_the_worktree_records_read_as_none_once_git_removed_their_folder(tmp_path: Path) -> None:
    """git deletes ``.git/worktrees`` with its last record: a rescan beside that removal reads
    no record instead of failing (it listed the folder after seeing it there)."""
    repo = small_repo(tmp_path / "r")
    manager = WorktreeManager(repo, tmp_path / "wt")
    with integrity.guarded(repo.path) as guard:
        path = manager.create("factory/issue-1-0123abcd", "main")
        assert integrity.worktree_records(guard.common)
        manager.remove(path)
        assert not (guard.common / "worktrees").exists()
        assert integrity.worktree_records(guard.common) == []
        (guard.common / "worktrees").write_text("")  # not even a folder
        assert integrity.worktree_records(guard.common) == []
        guard.rescan_worktrees()
        integrity.after_command(repo.path)
