"""The seal's sockets fit anywhere and stay the harness's: their folder is short whatever
``TMPDIR`` or the state folder is (the demo merges with both at 100 characters), ``factory
check`` says so when no folder fits, the seal sends nothing to a model socket another process
took, and a socket that does not answer as it should ends the validation as the harness's
failure, spending no fix attempt — through the real cycle: real bubblewrap, real Chromium, the
real SDK against the stand-in."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.artifacts import Validation
from harness.errors import SandboxError
from harness.model.base import Model, Request, Response
from harness.model.scripted import ScriptedModel, load_script
from harness.sandbox import peers
from harness.store.db import Store
from tests.checks_passed import analysers_find_nothing
from tests.cli_helpers import Result, run_cli
from tests.factory_repo import make_factory_repo
from tests.standins.anthropic_standin import AnthropicStandIn
from tests.store.demo_run import demo_run, long_folder
from tests.validate.conftest import (
    KEY,
    Output,
    file_issues,
    isolated_env,
    issue,
    journeys_pass,
    make_app,
    role_of,
    run_once,
    script_rules,
)
from tests.validate.scenarios import impersonate, seal_sockets

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


# One cycle, two validations one after the other, the seal of each met at its validator's
# first turn: #1's by an impostor at its model socket's name, #2's by a socket that stops
# answering. Each fails closed, as the harness's failure: a person is told, no fix attempt.
# The hold-out's journeys and the security gate's analysers, which no attack here meets, stand
# in as passed.
TAKEN, BROKEN = 1, 2


class Attacking:
    """The demo's scripted answers; at the first request of each issue's sealed validator
    (the seal waits for the answer), that issue's attack of ``attacks``."""

    kind = "scripted"

    def __init__(self, inner: Model, attacks: dict[int, Callable[[], None]]) -> None:
        self.inner, self.attacks = inner, attacks
        self.calls: Counter[int] = Counter()  # each issue's validator requests

    def create(self, request: Request) -> Response:
        if role_of(request) == "validator":
            asked = re.search(r"Check issue (\d+) in the running app", json.dumps(request))
            number = int(asked.group(1)) if asked else 0
            self.calls[number] += 1
            if self.calls[number] == 1 and number in self.attacks:
                self.attacks[number]()
        return self.inner.create(request)


@dataclass
class Attacked:
    state: Path
    taken: list[tuple[str, subprocess.Popen[str]]]  # the impostor: its first line, itself
    calls: Counter[int]
    labels: dict[int, list[str]]
    reports: dict[int, Result]  # ``factory report`` of each issue's validation


def _model_socket() -> str:
    (model,) = [s for s in seal_sockets(os.getpid()) if Path(s).name.startswith("model-")]
    return model


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> Attacked:
    root = tmp_path_factory.mktemp("attacked")
    state = root / "state"
    repo, _ = make_app(root)
    taken: list[tuple[str, subprocess.Popen[str]]] = []

    def take() -> None:
        """Were the socket's folder ever open to the seal's uid (as it was when that uid
        owned it), a process of that uid outside the seal could take the model socket's
        name: the folder is opened, and it does."""
        model = _model_socket()
        Path(model).parent.chmod(0o777)
        taken.append(impersonate(model))

    def break_socket() -> None:
        os.chmod(_model_socket(), 0)  # the seal's next request meets a socket it cannot use

    path = root / "script.yaml"
    path.write_text(yaml.safe_dump(script_rules()))
    attacks = {TAKEN: take, BROKEN: break_socket}
    responder = Attacking(ScriptedModel(load_script(path)), attacks)
    with isolated_env(state, ANTHROPIC_API_KEY=KEY) as mp, Output() as out:
        journeys_pass(mp)
        analysers_find_nothing(mp)  # the security gate's: neither change adds a finding
        with AnthropicStandIn(responder=responder) as server:
            mp.setenv("ANTHROPIC_BASE_URL", server.url)
            file_issues(out, repo, [TAKEN, BROKEN])
            run_once(out, repo, "--max-parallel", "1")  # one seal at a time
        labels = {n: issue(out, repo, n)["labels"] for n in (TAKEN, BROKEN)}
        store = Store.open(state)
        runs = {
            n: store.list_runs(limit=None, workflow="validate", issue=n) for n in (TAKEN, BROKEN)
        }
        store.close()
        cli = ("--repo", str(repo), "report")
        reports = {n: run_cli(out, *cli, found[0].id) for n, found in runs.items() if found}
    return Attacked(state, taken, responder.calls, labels, reports)


def _failed_check(state: Path, number: int) -> tuple[Any, Any]:
    store = Store.open(state)
    try:
        (run,) = store.list_runs(limit=None, workflow="validate", issue=number)
        (check,) = [s for s in store.steps(run.id) if s.step_id == "check"]
        return run, check
    finally:
        store.close()


@pytest.mark.browser
@pytest.mark.timeout(900)
@pytest.mark.skipif(os.geteuid() != 0, reason="the impostor is another uid: needs root")
def test_the_seal_sends_nothing_to_a_model_socket_the_harness_does_not_serve(
    attacked: Attacked,
) -> None:
    """Were the socket's folder ever open to the seal's uid (as it was when that uid owned
    it), a process of that uid outside the seal could take the model socket's name. At the
    validator's first call the folder is opened and it does: the seal checks who listens
    before it sends a byte, stops, and the validation fails closed, the reason in its run's
    record and in ``factory report``."""
    (said, impostor) = attacked.taken[0]
    assert said == "listening" and impostor.communicate(timeout=60)[0].strip() == "nothing"
    assert attacked.calls[TAKEN] == 1  # one call answered, by the harness
    labels = attacked.labels[TAKEN]
    assert "factory:needs-human" in labels and "factory:merged" not in labels, labels
    why = "model socket is served by uid 65534, not by the harness (uid 0)"
    run, check = _failed_check(attacked.state, TAKEN)
    assert run.status == "failed" and why in str(run.reason), (run.status, run.reason)
    assert check.status == "failed" and why in str(check.error), check
    report = attacked.reports[TAKEN]
    assert report.code == 0 and why in report.out, report


@pytest.mark.browser
@pytest.mark.timeout(900)
@pytest.mark.skipif(os.geteuid() != 0, reason="the impostor is another uid: needs root")
def test_a_seal_socket_that_stops_answering_is_the_harness_failure(attacked: Attacked) -> None:
    """The model socket stops answering (its mode taken away by the harness's own uid) during
    the validator's first turn; the validation ends as the harness's failure (kind
    ``sandbox``), the issue goes to a person, and no fix attempt is spent: no route, no
    second implementation. (That a process of the seal's uid outside the seal can change
    neither the socket's mode nor its owner: ``test_confinement.py``, on the cycles of
    ``interrupted``.)"""
    run, check = _failed_check(attacked.state, BROKEN)
    assert (run.status, check.status, check.error_kind) == ("failed", "failed", "sandbox"), (
        attacked.reports[BROKEN].out,
        check.error,
    )
    assert "the harness's model socket failed: PermissionError" in str(check.error)
    labels = attacked.labels[BROKEN]
    assert "factory:needs-human" in labels, labels
    store = Store.open(attacked.state)
    assert store.artifacts(Validation, BROKEN) == []  # no route: nothing to retry, none spent
    assert len(store.list_runs(limit=None, workflow="implement", issue=BROKEN)) == 1
    store.close()
