"""One suite run per change: a test result is a fact about a tree. A candidate that is the
very tree its implementation tested (production did not move) reuses that pass; one built on
another change runs the suite; production that became a tested tree runs none; a suite
holding a check heal found flaky runs again. Counted
from the sandboxed processes, through real cycles (sandbox, scripted model over the SDK; the
hold-out's journeys, the sealed validator and the security gate's analysers, which are not what
is counted here, stand in as passed but in the full cycle, where the candidates' journeys are
real); the merge queue's invariant
(``tests/conftest.py``) checks every landing's record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.artifacts import Baseline, CheckResult, HoldoutRun, Landing, Routing
from harness.artifacts import Tested as Ran
from harness.engine.records import RunRecords
from harness.sandbox.bwrap import CommandResult, Sandbox
from harness.store.db import Store
from tests.checks_passed import analysers_find_nothing
from tests.cli_helpers import run_cli
from tests.factory_repo import git
from tests.validate.conftest import (
    Output,
    counting,
    file_issues,
    isolated_env,
    issue,
    landed_tested_trees,
    looking,
    make_app,
    queued_together,
    run_once,
    serve,
    suite_alone,
    suites,
)
from tests.validate.scenarios import FullCycle

# the feature first in the queue is the full cycle's (a package fixture test_validate.py and
# test_test_evidence.py read too): one worker runs the modules that read such fixtures
pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(600),
    pytest.mark.together("validate-shared"),
]


def reported(capsys, repo: Path, store: Store, number: int) -> int:
    run = store.list_runs(limit=None, workflow="validate", issue=number)[0]
    data = run_cli(capsys, "--repo", str(repo), "report", run.id, "--json").json()
    return int(data["suite_runs"])


def records(store: Store, number: int, workflow: str) -> RunRecords:
    (run,) = store.list_runs(limit=None, workflow=workflow, issue=number)
    return RunRecords(store.steps(run.id))


def first_reuses_behind_runs_again(
    ran: list[str], store: Store, said: Callable[[int], int], still: int, moved: int
) -> None:
    """Of a cycle that landed ``still``, first in the queue, then ``moved`` behind it: whole
    suites started (``ran``) and ``factory report``'s count (``said``) of each, and their
    records."""
    # first in the queue: production did not move, its candidate is the tree implement tested
    assert suites(ran, store, still) == said(still) == 1
    tested = records(store, still, "implement").newest(Ran)
    checked = records(store, still, "validate").newest(CheckResult)
    landed = records(store, still, "validate").newest(Landing)
    assert tested is not None and checked is not None and checked.tests is not None
    implemented = store.list_runs(limit=None, workflow="implement", issue=still)[0].id
    assert checked.tests.reused_from == implemented and tested.tree == checked.tree
    assert landed is not None and landed.tested_by == implemented
    assert landed.landed_tree == tested.tree  # never red: the landed tree's pass is on record
    # behind it: its candidate carried the change ahead of it, another tree: run again
    assert suites(ran, store, moved) == said(moved) == 2
    checked = records(store, moved, "validate").newest(CheckResult)
    assert checked is not None and checked.tests is not None and not checked.tests.reused_from
    landed = records(store, moved, "validate").newest(Landing)
    validated = store.list_runs(limit=None, workflow="validate", issue=moved)[0].id
    assert landed is not None and landed.tested_by == validated


def test_a_candidate_that_is_the_tested_tree_runs_no_suite_one_built_on_another_does(
    capsys, app: tuple[Path, Path], standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 2, a bug fix, first in the queue (production still), 1, a feature, behind it
    (production moved); the other order is the full cycle's (below)."""
    repo, _ = app
    still, moved = 2, 1
    suite_alone(monkeypatch)
    analysers_find_nothing(monkeypatch)  # the security gate's: no change adds a finding
    ran = counting(monkeypatch)
    queued_together(monkeypatch, 2, order=[still, moved])
    file_issues(capsys, repo, which=[1, 2])
    run_once(capsys, repo, "--max-parallel", "2")
    assert all("factory:merged" in issue(capsys, repo, n)["labels"] for n in (1, 2))
    store = Store.open(repo.parent / "state")
    first_reuses_behind_runs_again(
        ran, store, lambda n: reported(capsys, repo, store, n), still, moved
    )
    # production is now that very tree, whose suite passed as its candidate and hold-out as
    # its smoke: the next cycle checks nothing of it, no health run and no suite (the smoke
    # keeping no health record, put back by hand: a health run, caught)
    before, checked_before = len(ran), len(store.list_runs(limit=None, workflow="health"))
    run_once(capsys, repo)
    assert len(store.list_runs(limit=None, workflow="health")) == checked_before
    assert len(ran) == before


def test_a_feature_first_in_the_queue_reuses_its_pass_and_a_bug_fix_behind_it_runs_again(
    full_cycle: FullCycle,
) -> None:
    """The other order, in the full cycle: #1, a feature, first in the queue; #2, a bug fix,
    behind it (and #3 behind both)."""
    assert all("factory:merged" in full_cycle.issues[n]["labels"] for n in (1, 2))
    store = Store.open(full_cycle.state)
    with isolated_env(full_cycle.state), Output() as out:
        first_reuses_behind_runs_again(
            full_cycle.started, store, lambda n: reported(out, full_cycle.repo, store, n), 1, 2
        )
    store.close()


# Production's suite fails once in the cycle's health run and passes again (heal: flaky). The
# feature (#1) goes first in the queue: its candidate is the tree its implementation tested,
# whose pass is not reused while production's suite holds a flaky check. The bug fix (#2)
# goes behind it; its candidate's suite fails once too, and runs again, whole.
FEATURE, BUG_FIX = 1, 2
BUG_FIXED = "strip()"  # what the bug fix writes in app.py (the feature does not)


@dataclass
class Flaky:
    repo: Path
    state: Path
    started: list[str]  # every whole-suite process of the cycle
    flaky: list[dict[str, Any]]  # ``factory flaky --json`` after it
    labels: dict[int, list[str]]
    reported: dict[int, int]  # ``suite_runs`` of each validation's ``factory report``
    looked: list[str]  # the check of each group of journeys run (``looking``)


@pytest.fixture(scope="module")
def flaky(tmp_path_factory: pytest.TempPathFactory) -> Flaky:
    root = tmp_path_factory.mktemp("flaky")
    state = root / "state"
    repo, _ = make_app(root)
    with isolated_env(state) as mp, Output() as out:
        for _ in serve(root, mp):
            suite_alone(mp)
            looked = looking(mp)
            analysers_find_nothing(mp)
            counting(mp, failing="-health-")  # production's suite fails once
            started = counting(mp, failing="-candidate-", change=BUG_FIXED)
            queued_together(mp, 2, order=[FEATURE, BUG_FIX])
            file_issues(out, repo, which=[FEATURE, BUG_FIX])
            run_once(out, repo, "--max-parallel", "2")
        found = run_cli(out, "--repo", str(repo), "flaky", "--json").json()
        labels = {n: issue(out, repo, n)["labels"] for n in (FEATURE, BUG_FIX)}
        store = Store.open(state)
        reports = {n: reported(out, repo, store, n) for n in (FEATURE, BUG_FIX)}
        store.close()
    landed_tested_trees(state)
    return Flaky(repo, state, started, found, labels, reports, looked)


def test_a_suite_heal_found_flaky_runs_again_on_the_candidate(flaky: Flaky) -> None:
    assert [f["check"] for f in flaky.flaky] == ["tests"]  # run again on the same commit: it passed
    assert "factory:merged" in flaky.labels[FEATURE]
    store = Store.open(flaky.state)
    checked = records(store, FEATURE, "validate").newest(CheckResult)
    assert checked is not None and checked.tests is not None
    assert checked.tests.reused_from is None and checked.tests.exit_code == 0
    assert not checked.tests.flaky_again  # it passed the first time
    assert suites(flaky.started, store, FEATURE) == flaky.reported[FEATURE] == 2
    store.close()


def test_a_flake_heal_found_on_production_is_not_the_candidates(flaky: Flaky) -> None:
    """Production's suite failed once and passed again (heal: flaky); the candidate's suite
    fails once too: it runs again, whole, and that run decides — no fix attempt spent, the
    gate's evidence says why it ran twice."""
    assert "factory:merged" in flaky.labels[BUG_FIX]
    store = Store.open(flaky.state)
    checked = records(store, BUG_FIX, "validate").newest(CheckResult)
    assert checked is not None and checked.tests is not None
    assert (checked.tests.exit_code, checked.tests.flaky_again) == (0, True)
    assert [r.fix_attempts for _, r in records(store, BUG_FIX, "validate").every(Routing)] == [0]
    # implement's, and the candidate's second: its first (the flake) ran a stand-in command,
    # no suite process
    assert suites(flaky.started, store, BUG_FIX) == 2
    store.close()


def test_journeys_that_passed_in_a_red_health_calibrate_its_tree(flaky: Flaky) -> None:
    """Production's suite failed in the cycle's health run, its journeys passed: what they
    showed on that tree under that hold-out is its calibration, and the validations after
    heal found the suite flaky run no journey on it again (fault put back by hand: health
    keeping the calibration only when green, a third look at the same tree, caught)."""
    store = Store.open(flaky.state)
    (run,) = store.list_runs(limit=None, workflow="health")
    (red,) = [s for s in store.steps(run.id) if s.status == "failed"]
    health = HoldoutRun.from_outputs(red.outputs)
    assert health.journeys_passed and health.tests and health.tests.exit_code
    calibrated = [records(store, n, "validate").newest(Baseline) for n in (FEATURE, BUG_FIX)]
    for baseline in calibrated:
        assert baseline is not None and baseline.cached and baseline.tree == health.tree
        assert baseline.journeys == health.journeys
    assert "baseline" not in flaky.looked and flaky.looked.count("health") == 1
    store.close()


def test_production_moved_after_its_red_health_is_calibrated_again(
    capsys, app: tuple[Path, Path], standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above, but a maintainer's commit moves production while the feature is implemented:
    another tree, whose calibration runs the journeys on it (fault put back by hand: a
    calibration known by the hold-out alone, not the tree, read from health's: caught)."""
    repo, _ = app
    suite_alone(monkeypatch)
    looked = looking(monkeypatch)
    analysers_find_nothing(monkeypatch)
    counting(monkeypatch, failing="-health-")
    real, moved = Sandbox.run, []

    def run(self: Sandbox, command: str, *, timeout_s: float | None = None) -> CommandResult:
        if not moved and "-implement-" in self.worktree.name:
            (repo / "CHANGES.md").write_text("A maintainer's note.\n")
            git(repo, "add", "CHANGES.md")
            git(repo, "commit", "-qm", "A maintainer's note")
            moved.append(git(repo, "rev-parse", "main").strip())
        return real(self, command, timeout_s=timeout_s)

    monkeypatch.setattr(Sandbox, "run", run)
    file_issues(capsys, repo, which=[FEATURE])
    run_once(capsys, repo)
    assert "factory:merged" in issue(capsys, repo, FEATURE)["labels"]
    store = Store.open(repo.parent / "state")
    baseline = records(store, FEATURE, "validate").newest(Baseline)
    assert baseline is not None and not baseline.cached and baseline.sha == moved[0]
    assert baseline.journeys_passed and looked.count("baseline") == 1
    store.close()
