"""The seal's sockets fit anywhere and stay the harness's: their folder is short whatever
``TMPDIR`` or the state folder is (the demo merges with both at 100 characters), ``factory
check`` says so when no folder fits, a process of the seal's uid outside the seal can change
neither a socket's mode nor its owner during a validation, and a socket that does not answer
as it should ends the validation as the harness's failure, spending no fix attempt — through
the real cycle: real bubblewrap, real Chromium, the real SDK against the stand-in."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.artifacts import Validation
from harness.errors import SandboxError
from harness.sandbox import peers
from harness.sandbox.holding import SANDBOX_GID
from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.factory_repo import make_factory_repo
from tests.store.demo_run import IDENTITY
from tests.validate.conftest import KEY, Output, file_issues, isolated_env, issue, make_app
from tests.validate.scenarios import seal_sockets, watching_standin


def _long(root: Path, name: str, length: int = 100) -> Path:
    """A folder under ``root`` whose path is ``length`` characters long."""
    path = root / name
    path = Path(f"{path}{'x' * (length - len(str(path)))}")
    path.mkdir(parents=True)
    assert len(str(path)) == length
    return path


@pytest.fixture
def short() -> Iterator[Path]:
    """A folder of this test's own with a short path (in ``/tmp``)."""
    with tempfile.TemporaryDirectory(prefix="seal-", dir="/tmp") as made:
        yield Path(made)


@pytest.fixture
def tmpdir_at(monkeypatch: pytest.MonkeyPatch):
    """Set ``TMPDIR`` for this process (``tempfile`` reads it again)."""

    def at(folder: Path) -> None:
        monkeypatch.setenv("TMPDIR", str(folder))
        monkeypatch.setattr(tempfile, "tempdir", None)

    return at


def test_the_sockets_folder_fits_whatever_tmpdir_is(tmp_path: Path, short: Path, tmpdir_at) -> None:
    """With ``TMPDIR`` at 100 characters the folder is made in ``/tmp``; a socket named as
    the seal's are binds there; the folder is the harness's, 0711, and gone afterwards."""
    tmpdir_at(_long(tmp_path, "t"))
    with peers.socket_folder() as folder:
        assert folder.parent == Path("/tmp") and folder.name.startswith(peers.SOCKETS_PREFIX)
        info = folder.stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (os.geteuid(), 0o711)
        path = peers.socket_path(folder, "browser")
        assert len(path.encode()) <= peers.UNIX_PATH_BYTES
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(path)
    assert not folder.exists()
    tmpdir_at(short)  # a short TMPDIR of the harness's own is used as it is
    with peers.socket_folder() as folder:
        assert folder.parent == short


def test_check_and_doctor_say_when_no_folder_fits(
    tmp_path: Path, short: Path, tmpdir_at, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Every candidate too long, or open to other accounts (writable by all, not sticky):
    ``factory check`` and ``factory doctor`` fail with the one line saying what to set, and a
    validation would stop at its seal with the same words."""
    tmpdir_at(_long(tmp_path, "t"))
    open_to_all = short
    open_to_all.chmod(0o777)
    monkeypatch.setattr(peers, "_BASES", (str(_long(tmp_path, "u")), str(open_to_all)))
    assert peers.socket_base() is None
    with pytest.raises(SandboxError, match="no folder for the sealed validator's sockets"):
        with peers.socket_folder():
            pass
    repo = make_factory_repo(tmp_path / "r")
    for command in ("check", "doctor"):
        res = run_cli(capsys, "--repo", str(repo), command)
        assert res.code == 2, (command, res.out, res.err)
        said = "environment: TMPDIR: no folder for the sealed validator's sockets"
        assert said in res.out + res.err, (command, res.out, res.err)
    open_to_all.chmod(0o1777)  # sticky: no other account renames what is not its own
    assert peers.socket_base() == open_to_all


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_demo_merges_with_tmpdir_and_state_at_100_characters(tmp_path: Path) -> None:
    """``factory demo`` as ``make demo`` runs it, in a process of its own, with ``TMPDIR``
    and the demo's state folder each 100 characters long: the same outcomes as ever."""
    temp = _long(tmp_path, "tmp")
    where = _long(tmp_path, "demo", 100 - len("/notes/.factory"))
    where.rmdir()  # the demo makes its folder
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TMPDIR": str(temp), **IDENTITY}
    factory = Path(sys.executable).parent / "factory"
    done = subprocess.run(
        [str(factory), "demo", "--dir", str(where), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=850,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(done.stdout)
    assert len(data["state_dir"]) == 100, data["state_dir"]
    outcomes = {n: outcome for n, outcome, _ in data["outcomes"]}
    assert outcomes == {
        1: "MERGED",
        2: "MERGED",
        3: "rejected",
        4: "refused (needs a human)",
        5: "needs a human",
    }


# a process of the seal's uid outside the seal, at the model socket: its mode and owner
TAMPER = """
import os, sys
path = sys.argv[1]
for name, change in (("chmod", lambda: os.chmod(path, 0o777)),
                     ("chown", lambda: os.chown(path, 65534, 65534))):
    try:
        change()
        print(name, "done")
    except OSError as exc:
        print(name, "denied", exc.errno)
"""


@pytest.mark.browser
@pytest.mark.timeout(900)
@pytest.mark.skipif(os.geteuid() != 0, reason="another uid: needs root")
def test_no_other_account_changes_the_seals_sockets_and_a_broken_one_is_the_harness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 1's validation: during its validator's first turn a process of uid 65534 outside
    the seal tries ``chmod`` and ``chown`` on the model socket; both are refused, the
    socket stays the harness's (root, the seal's group, 0660) and the change merges. Issue
    2's validation: the model socket stops answering (its mode taken away by the harness's
    own uid) during its validator's first turn; the validation ends as the harness's
    failure (kind ``sandbox``), the issue goes to a person, and no fix attempt is spent: no
    route, no second implementation."""
    state = tmp_path / "state"
    repo, _ = make_app(tmp_path)
    seen: dict[str, object] = {}
    break_socket = False

    def on_validator(turn: int) -> None:
        if turn != 1:
            return
        (model,) = [s for s in seal_sockets(os.getpid()) if Path(s).name.startswith("model-")]
        if break_socket:
            os.chmod(model, 0)  # the next request of the seal meets a socket it cannot use
            return
        ids = ["--reuid=65534", "--regid=65534", "--clear-groups"]
        command = ["setpriv", *ids, "/usr/bin/python3", "-c", TAMPER, model]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        seen["tampered"] = done.stdout.split("\n")[:-1] or done.stderr
        info = os.stat(model)
        seen["socket"] = (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode))

    with isolated_env(state, ANTHROPIC_API_KEY=KEY) as mp, Output() as out:
        cli = ("--repo", str(repo))
        with watching_standin(tmp_path, mp, on_validator) as (_, watching):
            file_issues(out, repo, [1])
            first = run_cli(out, *cli, "run", "--once", "--json")
            assert "factory:merged" in issue(out, repo, 1)["labels"], (first.out, first.err)
            watching.turns, break_socket = 0, True
            file_issues(out, repo, [2])
            second = run_cli(out, *cli, "run", "--once", "--json")
        labels = issue(out, repo, 2)["labels"]

    assert seen["tampered"] == ["chmod denied 1", "chown denied 1"], seen
    assert seen["socket"] == (0, SANDBOX_GID, 0o660), seen
    store = Store.open(state)
    (run,) = store.list_runs(workflow="validate", issue=2)
    (check,) = [s for s in store.steps(run.id) if s.step_id == "check"]
    assert (run.status, check.status, check.error_kind) == ("failed", "failed", "sandbox"), (
        second.out,
        check.error,
    )
    assert "the harness's model socket failed: PermissionError" in str(check.error)
    assert "factory:needs-human" in labels, labels
    assert store.artifacts(Validation, 2) == []  # no route: nothing to retry, no attempt spent
    assert len(store.list_runs(workflow="implement", issue=2)) == 1
    store.close()
