"""The seal's sockets fit anywhere and stay the harness's: their folder is short whatever
``TMPDIR`` or the state folder is (the demo merges with both at 100 characters), ``factory
check`` says so when no folder fits, and a socket that does not answer as it should ends the
validation as the harness's failure, spending no fix attempt — through the real cycle: real
bubblewrap, real Chromium, the real SDK against the stand-in."""

from __future__ import annotations

import os
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.artifacts import Validation
from harness.errors import SandboxError
from harness.sandbox import peers
from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.factory_repo import make_factory_repo
from tests.store.demo_run import demo_run, long_folder
from tests.validate.conftest import KEY, Output, file_issues, isolated_env, issue, make_app
from tests.validate.scenarios import seal_sockets, watching_standin

# the demo at 100 characters is the worker's one ``factory demo`` (``tests/store/demo_run.py``),
# which the modules marked so read too: one worker runs them
pytestmark = pytest.mark.together("demo-cycle")


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
    tmpdir_at(long_folder(tmp_path, "t"))
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
    tmpdir_at(long_folder(tmp_path, "t"))
    open_to_all = short
    open_to_all.chmod(0o777)
    monkeypatch.setattr(peers, "_BASES", (str(long_folder(tmp_path, "u")), str(open_to_all)))
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
def test_the_demo_merges_with_tmpdir_and_state_at_100_characters(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """``factory demo`` as ``make demo`` runs it (the worker's one, ``tests/store/demo_run.py``),
    with ``TMPDIR`` and the demo's state folder each 100 characters long: the same outcomes
    as ever."""
    demo = demo_run(tmp_path_factory)
    assert demo.code == 0, demo.err[-3000:]
    data = demo.json()
    assert len(data["state_dir"]) == len(str(demo.tmpdir)) == 100, (data["state_dir"], demo)
    outcomes = {n: outcome for n, outcome, _ in data["outcomes"]}
    assert outcomes == {
        1: "MERGED",
        2: "MERGED",
        3: "rejected",
        4: "refused (needs a human)",
        5: "needs a human",
    }


@pytest.mark.browser
@pytest.mark.timeout(900)
@pytest.mark.skipif(os.geteuid() != 0, reason="another uid: needs root")
def test_a_seal_socket_that_stops_answering_is_the_harness_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model socket stops answering (its mode taken away by the harness's own uid) during
    the validator's first turn; the validation ends as the harness's failure (kind
    ``sandbox``), the issue goes to a person, and no fix attempt is spent: no route, no
    second implementation. (That a process of the seal's uid outside the seal can change
    neither the socket's mode nor its owner: ``test_confinement.py``, on the cycles of
    ``interrupted``.)"""
    state = tmp_path / "state"
    repo, _ = make_app(tmp_path)

    def on_validator(turn: int) -> None:
        if turn != 1:
            return
        (model,) = [s for s in seal_sockets(os.getpid()) if Path(s).name.startswith("model-")]
        os.chmod(model, 0)  # the next request of the seal meets a socket it cannot use

    with isolated_env(state, ANTHROPIC_API_KEY=KEY) as mp, Output() as out:
        cli = ("--repo", str(repo))
        with watching_standin(tmp_path, mp, on_validator):
            file_issues(out, repo, [2])
            done = run_cli(out, *cli, "run", "--once", "--json")
        labels = issue(out, repo, 1)["labels"]

    store = Store.open(state)
    (run,) = store.list_runs(workflow="validate", issue=1)
    (check,) = [s for s in store.steps(run.id) if s.step_id == "check"]
    assert (run.status, check.status, check.error_kind) == ("failed", "failed", "sandbox"), (
        done.out,
        check.error,
    )
    assert "the harness's model socket failed: PermissionError" in str(check.error)
    assert "factory:needs-human" in labels, labels
    assert store.artifacts(Validation, 1) == []  # no route: nothing to retry, no attempt spent
    assert len(store.list_runs(workflow="implement", issue=1)) == 1
    store.close()
