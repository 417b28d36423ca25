"""Heal bisects in the present (docs/heal.md, "Blame"): a recorded green is evidence for
``health.green_for_h`` hours, not for ever, and a green end that fails now sends the bisect
further back, to the commit that planted what fails. A merged test and a merged page that go
bad after a set time (the factory's clock, run days ahead as a soak runs it: no waiting) are
blamed on their merges and reverted in the health run after they go off, never called
flaky; a regression whose failing test fails alone is bisected with that test alone, at one
whole-suite run in all."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.artifacts import Blame
from harness.engine.records import RunRecords
from harness.store import base as clock
from harness.store.base import factory_now
from harness.store.db import Store
from tests.checks_passed import CHECKS_PASSED, analysers_find_nothing
from tests.cli_helpers import repo_cli, use_actions
from tests.factory_repo import git
from tests.heal.conftest import commits, land

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

DAY = 86_400.0
GOES_OFF = factory_now() + DAY  # a day from now, by the factory's clock
BOMB = f"""import pathlib
import unittest


class Clock(unittest.TestCase):
    def test_still_in_time(self):
        self.assertLess(float(pathlib.Path("now.txt").read_text()), {GOES_OFF!r})
"""
EXPIRED = f"""        if float(Path("now.txt").read_text()) > {GOES_OFF!r}:
            self._send(200, "<!doctype html><html><body><h1>Notes</h1>"
                       "<p>Your session ended: please sign in again.</p></body></html>")
            return
"""
GET = "    def do_GET(self):\n"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-heal-asks-no-model")  # never called


@pytest.fixture
def now_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every copy the checks run in (tests, each app) holds the factory's time when it was
    made (``now.txt``): what a test or a page reads to go off."""
    from harness.validate import evidence

    real = evidence.fresh_copy

    @contextmanager
    def dated(settings, prepared: Path, name: str) -> Iterator[Path]:
        with real(settings, prepared, name) as path:
            (path / "now.txt").write_text(repr(factory_now()))
            yield path

    monkeypatch.setattr(evidence, "fresh_copy", dated)


def _two_days_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "DAYS_AHEAD_S", 2 * DAY)


def _healed(cli, state: Path, culprit: str, number: int) -> Blame:
    """One health run after it went off: the merge that planted it blamed and reverted (the
    revert landed on records saying its checks passed), no flake counted."""
    with pytest.MonkeyPatch.context() as checks_passed:
        use_actions(checks_passed, *CHECKS_PASSED)
        said = cli("health", "--json").json()
    assert said["outcome"] == "reverted" and said["revert_landed"], said
    store = Store.open(state)
    (heal,) = store.list_runs(limit=None, workflow="heal")
    blame = RunRecords(store.steps(heal.id)).newest(Blame)
    assert blame is not None and (blame.culprit, blame.issue) == (culprit, number), blame
    assert blame.culprit_kind == "factory"
    assert cli("flaky", "--json").json() == []  # never recorded flaky
    assert cli("health", "--json").json()["green"]
    return blame


def test_a_merged_test_that_goes_off_later_is_blamed_on_its_merge_and_reverted(
    tmp_path: Path, capsys, tests_app, now_file, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _ = tests_app
    state = tmp_path / "state"
    cli = repo_cli(capsys, repo)
    land(repo, state, "Add a help page", {"help.txt": "Write a note, press Add.\n"})
    number, culprit = land(repo, state, "Check the clock", {"test_clock.py": BOMB})
    assert cli("health", "--json").json()["green"]  # recorded green, with the test in it
    land(repo, state, "Add a changelog", {"CHANGES.txt": "- help page\n"})
    assert cli("health", "--json").json()["green"]
    assert "run_id" not in cli("health", "--json").json()  # its record stands: not run again

    _two_days_on(monkeypatch)  # the test goes off; every green record is two days old
    blame = _healed(cli, state, culprit, number)
    assert blame.alone  # it fails alone, by its id: probed alone
    behind = [p.sha for p in blame.probes]
    assert blame.green is not None and behind.index(blame.green) > behind.index(culprit)
    assert not (repo / "test_clock.py").exists() and (repo / "CHANGES.txt").is_file()


def test_a_merged_page_that_goes_bad_later_under_a_journey_is_reverted(
    tmp_path: Path, capsys, app, now_file, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page that asks people to sign in again after a set time: the hold-out's journey
    fails on a tree that did not change; heal blames the merge that made the page so (the
    revert's security gate finding nothing, its analysers standing in as ``tests_app``'s)."""
    analysers_find_nothing(monkeypatch)
    repo, _ = app
    state = tmp_path / "state"
    cli = repo_cli(capsys, repo)
    page = (repo / "app.py").read_text()
    assert GET in page
    changed = page.replace(GET, GET + EXPIRED)
    number, culprit = land(repo, state, "End sessions after a day", {"app.py": changed})
    land(repo, state, "Add a changelog", {"CHANGES.txt": "- sessions end\n"})
    assert cli("health", "--json").json()["green"]

    _two_days_on(monkeypatch)
    _healed(cli, state, culprit, number)
    assert "please sign in again" not in (repo / "app.py").read_text()


def test_a_regression_over_32_commits_whose_test_fails_alone_costs_one_whole_suite_run(
    tmp_path: Path, capsys, tests_app
) -> None:
    repo, _ = tests_app
    cli = repo_cli(capsys, repo)
    assert cli("health", "--json").json()["green"]  # 32 commits before the red one
    page = (repo / "app.py").read_text()
    changes = [
        (f"change {n}", {"app.py": page.replace("[*notes, text]", '[*notes, text + " "]')})
        if n == 11  # a maintainer's commit breaks test_add_note
        else (f"change {n}", {f"note_{n}.txt": f"note {n}\n"})
        for n in range(1, 33)
    ]  # on main, by one git fast-import
    made = commits(repo, "main", git(repo, "rev-parse", "main").strip(), changes)
    git(repo, "reset", "-q", "--hard", "main")  # the working tree at the new tip

    said = cli("health", "--json").json()
    assert said["outcome"] == "needs_human", said  # a maintainer's commit: a person decides
    store = Store.open(tmp_path / "state")
    (heal,) = store.list_runs(limit=None, workflow="heal")
    blame = RunRecords(store.steps(heal.id)).newest(Blame)
    assert blame is not None and blame.culprit == made[10] and blame.alone
    assert {c for p in blame.probes for c in p.failed} == {"test:test_app.NotesTest.test_add_note"}
    assert len(blame.probes) <= 1 + 6  # alone on the red commit, then ⌈log2 32⌉ + 1
    report = cli("report", heal.id, "--json").json()
    assert report["suite_runs"] == 1  # the suite again on the red commit: the diagnosis
    assert "suite runs for this run: 1" in cli("report", heal.id).out
