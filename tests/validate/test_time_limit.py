"""A time limit is not a verdict: a suite its time limit stopped runs once more alone; if it
finishes the change goes on (and merges), if it is stopped again a person is told "the suite
does not finish", never a fix attempt. Through one real cycle (sandbox, browser, scripted
model over the SDK); the time limit is hit deterministically: the suite runs a real
``sleep`` past a one-second limit in the real sandbox for the runs chosen below. The hold-out's
journeys, the sealed validator and the security gate's analysers, which no time limit here
stops, stand in as passed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from harness.artifacts import CheckResult
from harness.artifacts import Tested as Ran
from harness.engine.records import RunRecords
from harness.sandbox.bwrap import CommandResult, Sandbox
from harness.store.db import Store
from tests.checks_passed import analysers_find_nothing
from tests.factory_repo import git
from tests.validate.conftest import file_issues, issue, queued_together, run_once, suite_alone

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
SUITE = "python3 -m unittest"  # not the implementer's own `python3 -m unittest -q`


def stalling(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[str, str]]:
    """The suite's runs stopped by their time limit: #1's first in implementation and its
    first on the candidate, every one of #2 on the candidate, every one of #3 in
    implementation (each change told apart by what it wrote in app.py)."""
    real, ran = Sandbox.run, Counter[tuple[str, str]]()
    stalls = {"strip()": {"candidate": 99}, ">Save<": {"implement": 99}, "notes</p>": {}}
    stalls["notes</p>"] = {"implement": 1, "candidate": 1}

    def run(self: Sandbox, command: str, *, timeout_s: float | None = None) -> CommandResult:
        app = (self.worktree / "app.py").read_text() if command == SUITE else ""
        change = next((c for c in stalls if c in app), None)
        where = "candidate" if "-candidate-" in self.worktree.name else "implement"
        if change is not None:
            ran[change, where] += 1
            if ran[change, where] <= stalls[change].get(where, 0):
                return real(self, "sleep 30", timeout_s=1)
        return real(self, command, timeout_s=timeout_s)

    monkeypatch.setattr(Sandbox, "run", run)
    return ran


def suite_runs(store: Store, number: int, workflow: str) -> list[Ran]:
    return [
        t
        for r in store.list_runs(limit=None, workflow=workflow, issue=number)
        for t in RunRecords(store.steps(r.id)).tested()
    ]


def test_a_time_limit_is_run_again_alone_then_merges_or_goes_to_a_person(
    capsys, app: tuple[Path, Path], standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _ = app
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["commands"]["test"] = SUITE
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "commit", "-qam", "the suite")
    suite_alone(monkeypatch)
    analysers_find_nothing(monkeypatch)  # the security gate's: no change adds a finding
    ran = stalling(monkeypatch)
    queued_together(monkeypatch, 2, order=[1, 2])  # #2's candidate carries #1, decided first
    file_issues(capsys, repo)
    run_once(capsys, repo, "--max-parallel", "3")
    assert ran[">Save<", "implement"] == 2  # stopped twice: no fix attempt followed
    assert ran["strip()", "candidate"] == 2
    first, second, third = (issue(capsys, repo, n) for n in (1, 2, 3))
    assert "factory:merged" in first["labels"], first["labels"]
    store = Store.open(repo.parent / "state")
    (implemented,) = suite_runs(store, 1, "implement")
    assert implemented.again and implemented.exit_code == 0
    candidate = [c for c in suite_runs(store, 1, "validate") if c.suite]
    assert candidate[0].again and candidate[0].exit_code == 0, candidate
    # #2: stopped on the candidate beside the other checks, then alone: a person decides
    assert "factory:needs-human" in second["labels"], second["labels"]
    (run,) = store.list_runs(limit=None, workflow="validate", issue=2)
    checked = RunRecords(store.steps(run.id)).newest(CheckResult)
    assert checked is not None and checked.tests is not None and checked.tests.again
    decided = next(s.outputs for s in store.steps(run.id) if s.step_id == "decide")
    assert decided["route"] == "needs_human" and "time limit" in decided["reason"], decided
    assert decided["fix_attempts"] == 0
    assert (
        len(store.list_runs(limit=None, workflow="implement", issue=2)) == 1
    )  # never sent back for a fix
    # #3: stopped twice in implementation: a person, and the implementer never ran again
    assert "factory:needs-human" in third["labels"], third["labels"]
    (run,) = store.list_runs(limit=None, workflow="implement", issue=3)
    assert "time limit" in (run.reason or ""), run.reason
    assert [s.step_id for s in store.steps(run.id)].count("code") == 1
