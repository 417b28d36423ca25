"""One suite run per change: a test result is a fact about a tree. A candidate that is the
very tree its implementation tested (production did not move) reuses that pass; one built on
another change runs the suite; production that became a tested tree runs none; a suite
holding a check heal found flaky runs again. Counted
from the sandboxed processes, through real cycles (sandbox, browser, scripted model over the
SDK); the merge queue's invariant (``tests/conftest.py``) checks every landing's record."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.artifacts import CheckResult, Landing, Routing
from harness.artifacts import Tested as Ran
from harness.engine.records import RunRecords
from harness.sandbox.bwrap import CommandResult, Sandbox
from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.validate.conftest import file_issues, issue, queued_together, run_once

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
SUITE = "python3 -m unittest -q"  # the demo's commands.test


def counting(monkeypatch: pytest.MonkeyPatch, failing: str = "") -> list[str]:
    """Every whole-suite process started (its command line: the sandbox's, naming the folder
    it runs in), counted as the process starts, beneath the harness; the first suite run in
    a folder whose name holds ``failing`` runs a real command that exits 1 instead."""
    real, ran, started = Sandbox.run, [], []

    def run(self: Sandbox, command: str, *, timeout_s: float | None = None) -> CommandResult:
        ran.append((self.worktree.name, command))
        first = not any(failing in name and c == SUITE for name, c in ran[:-1])
        if failing and failing in self.worktree.name and command == SUITE and first:
            return real(self, "echo 'a flake'; exit 1", timeout_s=timeout_s)
        return real(self, command, timeout_s=timeout_s)

    class Started(subprocess.Popen):  # type: ignore[type-arg]
        def __init__(self, args: Any, *more: Any, **options: Any) -> None:
            super().__init__(args, *more, **options)
            if isinstance(args, list) and SUITE in args:
                started.append(" ".join(map(str, args)))

    monkeypatch.setattr(Sandbox, "run", run)
    monkeypatch.setattr(subprocess, "Popen", Started)
    return started


def suites(started: list[str], store: Store, number: int) -> int:
    """How many whole-suite processes the runs of issue ``number`` started."""
    runs = [r.id for r in store.list_runs(issue=number)]
    return sum(any(f"/{r}-" in argv for r in runs) for argv in started)


def reported(capsys, repo: Path, store: Store, number: int) -> int:
    run = store.list_runs(workflow="validate", issue=number)[0]
    data = run_cli(capsys, "--repo", str(repo), "report", run.id, "--json").json()
    return int(data["suite_runs"])


def records(store: Store, number: int, workflow: str) -> RunRecords:
    (run,) = store.list_runs(workflow=workflow, issue=number)
    return RunRecords(store.steps(run.id))


@pytest.mark.parametrize("still, moved", [(2, 1), (1, 2)], ids=["bug-first", "feature-first"])
def test_a_candidate_that_is_the_tested_tree_runs_no_suite_one_built_on_another_does(
    capsys, app: tuple[Path, Path], standin, monkeypatch: pytest.MonkeyPatch, still, moved
) -> None:
    """Issue 1 is a feature, 2 a bug fix: each in turn first in the queue (production still)
    and behind the other (production moved)."""
    repo, _ = app
    ran = counting(monkeypatch)
    queued_together(monkeypatch, 2, order=[still, moved])
    file_issues(capsys, repo, which=[1, 2])
    run_once(capsys, repo, "--max-parallel", "2")
    assert all("factory:merged" in issue(capsys, repo, n)["labels"] for n in (1, 2))
    store = Store.open(repo.parent / "state")
    # first in the queue: production did not move, its candidate is the tree implement tested
    assert suites(ran, store, still) == reported(capsys, repo, store, still) == 1
    tested = records(store, still, "implement").newest(Ran)
    checked = records(store, still, "validate").newest(CheckResult)
    landed = records(store, still, "validate").newest(Landing)
    assert tested is not None and checked is not None and checked.tests is not None
    implemented = store.list_runs(workflow="implement", issue=still)[0].id
    assert checked.tests.reused_from == implemented and tested.tree == checked.tree
    assert landed is not None and landed.tested_by == implemented
    assert landed.landed_tree == tested.tree  # never red: the landed tree's pass is on record
    # behind it: its candidate carried the change ahead of it, another tree: run again
    assert suites(ran, store, moved) == reported(capsys, repo, store, moved) == 2
    checked = records(store, moved, "validate").newest(CheckResult)
    assert checked is not None and checked.tests is not None and not checked.tests.reused_from
    landed = records(store, moved, "validate").newest(Landing)
    validated = store.list_runs(workflow="validate", issue=moved)[0].id
    assert landed is not None and landed.tested_by == validated
    # production is now that very tree, set up the same way: its health runs no suite
    before, checked_before = len(ran), len(store.list_runs(workflow="health"))
    run_once(capsys, repo)
    assert len(store.list_runs(workflow="health")) == checked_before + 1
    assert len(ran) == before


def test_a_suite_heal_found_flaky_runs_again_on_the_candidate(
    capsys, app: tuple[Path, Path], standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _ = app
    ran = counting(monkeypatch, failing="-health-")  # production's suite fails once
    file_issues(capsys, repo, which=[2])  # the bug fix, filed as #1
    run_once(capsys, repo)
    flaky = run_cli(capsys, "--repo", str(repo), "flaky", "--json").json()
    assert [f["check"] for f in flaky] == ["tests"]  # run again on the same commit: it passed
    assert "factory:merged" in issue(capsys, repo, 1)["labels"]
    store = Store.open(repo.parent / "state")
    checked = records(store, 1, "validate").newest(CheckResult)
    assert checked is not None and checked.tests is not None
    assert checked.tests.reused_from is None and checked.tests.exit_code == 0
    assert suites(ran, store, 1) == reported(capsys, repo, store, 1) == 2


def test_a_flake_heal_found_on_production_is_not_the_candidates(
    capsys, app: tuple[Path, Path], standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production's suite failed once and passed again (heal: flaky); the candidate's suite
    fails once too: it runs again, whole, and that run decides — no fix attempt spent, the
    gate's evidence says why it ran twice."""
    repo, _ = app
    counting(monkeypatch, failing="-health-")
    ran = counting(monkeypatch, failing="-candidate-")
    file_issues(capsys, repo, which=[2])
    run_once(capsys, repo)
    assert "factory:merged" in issue(capsys, repo, 1)["labels"]
    store = Store.open(repo.parent / "state")
    checked = records(store, 1, "validate").newest(CheckResult)
    assert checked is not None and checked.tests is not None
    assert (checked.tests.exit_code, checked.tests.flaky_again) == (0, True)
    assert [r.fix_attempts for _, r in records(store, 1, "validate").every(Routing)] == [0]
    # implement's, and the candidate's second: its first (the flake) ran a stand-in command,
    # no suite process
    assert suites(ran, store, 1) == 2
