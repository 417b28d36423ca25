"""A retry's request says when a validator verdict it repeats was refused by the
``validator_evidence`` gate, and why (docs/gates.md, "A pass rests on evidence"); a
conflict spends no fix attempt of the next one; a gate's finding reaches it whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.artifacts import Commit, GateReport, GateResult, Validation, Verdict, Worktree
from harness.implement.feedback import PreviousAttempt, previous_attempt
from harness.services import open_services
from tests.factory_repo import git, make_factory_repo

REFUSED = "0 of the validator's 3 actions in the app worked: its pass rests on nothing it saw"


def _attempt(
    tmp_path: Path, conflict: str | None, *gates: GateResult
) -> tuple[PreviousAttempt, str]:
    """An implement run of issue 1 (one fix attempt spent) whose validation refused a pass
    of 0.95 and sent it back: what its next attempt is told, and the request."""
    repo = make_factory_repo(tmp_path / "repo")
    services = open_services(repo, tmp_path / "state")
    store, production = services.store, git(repo, "rev-parse", "main").strip()
    run = store.create_run("implement", 1, {"number": 1}, {})
    tree = Worktree(path="", branch="factory/issue-1-x", base_sha=production, start_sha=production)
    done = [  # read by type: the steps may be named anything
        ("worktree", tree),
        ("commit", Commit(head=production, base=production, tree=None)),
        ("gates", GateReport(gates=[], passed=True, fix_attempts=1)),
    ]
    for step, record in done:
        seq = store.start_step(run.id, step, {"kind": "action"})
        outputs = record.model_dump(mode="json")
        store.finish_step(seq, "succeeded", outputs, artifact=type(record).__name__)
    store.set_run_status(run.id, "succeeded")
    decided = Validation(
        route="retry",
        reason="r",
        score=0.95,
        verdict="pass",
        gates=[GateResult(name="validator_evidence", passed=False, evidence=REFUSED), *gates],
        fix_attempts=1,
        implement_run=run.id,
        pr=1,
        conflict=conflict,
        validator=Verdict(verdict="pass", score=0.95, summary="checked"),
    )
    check = store.create_run("validate", 1, {"number": 1}, {})
    seq = store.start_step(check.id, "decide", {"kind": "action", "action": "validate.decide"})
    store.finish_step(seq, "succeeded", decided.model_dump(mode="json"), artifact="Validation")
    store.set_run_status(check.id, "succeeded")
    previous = previous_attempt(store, services.repo, 1, "now", "")
    assert previous is not None
    steps = {"prepare": {"previous": previous.model_dump(mode="json")}}
    return previous, services.templates.render("prompts/previous_attempt.md.j2", steps=steps)


def test_a_refused_verdict_is_told_as_refused_with_why(tmp_path: Path) -> None:
    _, said = _attempt(tmp_path, None)
    assert "verdict pass, score 0.95. The factory refused that verdict" in said
    assert said.count(REFUSED) == 1  # told with the verdict, not again among the gates


@pytest.mark.parametrize(("conflict", "attempts"), [(None, 2), ("a text conflict in a.py", 1)])
def test_a_conflict_spends_no_fix_attempt(
    tmp_path: Path, conflict: str | None, attempts: int
) -> None:
    previous, _ = _attempt(tmp_path, conflict)
    assert previous.fix_attempts == attempts


def test_a_long_gate_finding_reaches_the_retry_request_whole(tmp_path: Path) -> None:
    """The advice at the end of a 400-character finding is what the next attempt needs."""
    advice = "pass the command as a list of arguments and never build it from the request."
    finding = "B602 (high) app.py:12 subprocess call with shell=True identified: " + (
        "the command is built from what a user sent, so any user runs any program; " * 4
    )
    finding += advice
    assert len(finding) >= 400
    gate = GateResult(name="security", passed=False, evidence=finding)
    _, said = _attempt(tmp_path, None, gate)
    assert f"- security: {finding}" in said, said
