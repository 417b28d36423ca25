"""The validate room's records are types, and they read what an older version wrote: a run
killed mid-validate resumes after an upgrade, and earned trust still counts older runs; a
record of a shape no version wrote fails its step in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.artifacts import CheckResult, Prepared, ValidateInputs, Validation
from harness.engine.context import StepContext
from harness.engine.runner import Engine
from harness.errors import StepFailed
from harness.services import open_services
from harness.store.db import Store
from tests.factory_repo import make_factory_repo
from tests.step_records import by_step

HEAD, CANDIDATE, PRODUCTION = "b" * 40, "c" * 40, "d" * 40
TREE = "e" * 40
# what validate.prepare recorded before the candidate was kept whole
OLD_PREPARE: dict[str, Any] = {
    "implement_run": "r-impl",
    "pr": 3,
    "head": HEAD,
    "branch": "factory/1-count",
    "gated_head": HEAD,
    "gates": [{"name": "changed_lines", "passed": True, "evidence": "3 changed lines"}],
    "spec": {
        "number": 1,
        "title": "Show how many notes there are",
        "body": "Show 'N notes' under the heading.",
        "issue_sha256": "",
        "decision": "accept",
        "reason": "in the mission",
        "rule": None,
        "kind": "bug",
        "priority": "p2",
        "acceptance_criteria": ["The count is shown."],
        "source": "",
        "triage_run": "r-triage",
    },
    "fix_attempts": 1,
}
JOURNEY = {
    "name": "notes are listed",
    "passed": True,
    "steps_run": 3,
    "failed_step": None,
    "expected": None,
    "actual": None,
    "screenshot": None,
    "duration_s": 1.5,
    "blocked_requests": [],
    "final_path": "/",
    "final_text": "Notes",
}
# what validate.check recorded before: the journeys' dict, the validator's answer as a dict
OLD_CHECK: dict[str, Any] = {
    "sha": CANDIDATE,
    "ports": [41001],
    "port": 41001,
    "shots_dir": "/state/evidence/r-val/candidate",
    "journeys": [JOURNEY],
    "journeys_passed": True,
    "fresh_app_per_check": True,
    "setup_offline_for": [],
    "tree": TREE,
    "tests": {
        "command": "python3 -m unittest -q",
        "exit_code": 0,
        "output": "OK",
        "tree": TREE,
        "duration_s": 0.4,
    },
    "validator_port": 41002,
    "validator": {
        "output": {
            "verdict": "pass",
            "score": 0.8,
            "criteria": [{"criterion": "The count is shown.", "result": "pass", "evidence": "2"}],
            "summary": "The count shows.",
        },
        "shots": [],
        "blocked": [],
        "observed": [{"tool": "browser_snapshot", "input": {}, "seen": "f" * 64}],
        "asked": "a" * 64,
    },
    "candidate": CANDIDATE,
    "production_sha": PRODUCTION,
    "head": HEAD,
}
OLD_BASELINE = {
    **{k: OLD_CHECK[k] for k in ("sha", "journeys", "journeys_passed", "tree")},
    "production_sha": PRODUCTION,
    "cached": True,
}


def test_an_older_prepare_record_reads_as_the_target_and_its_candidate() -> None:
    prepared = Prepared.from_outputs(OLD_PREPARE)
    candidate = prepared.candidate
    assert (prepared.pr, prepared.head, prepared.implement_run) == (3, HEAD, "r-impl")
    assert (candidate.head, candidate.branch, candidate.fix_attempts) == (
        HEAD,
        OLD_PREPARE["branch"],
        1,
    )
    assert candidate.spec.kind == "bug" and candidate.triage_run == "r-triage"
    assert [g.name for g in candidate.gates] == ["changed_lines"]
    assert OLD_PREPARE["spec"]["triage_run"] == "r-triage"  # the record itself is untouched
    # and what prepare records now reads back the same way
    now = {**prepared.model_dump(mode="json", exclude={"candidate"})}
    now["candidate"] = candidate.model_dump(mode="json")
    assert Prepared.from_outputs(now) == prepared


def test_an_older_check_record_reads_as_a_check_result() -> None:
    checked = CheckResult.from_outputs(OLD_CHECK)
    assert checked.candidate == CANDIDATE and checked.conflict is None
    assert checked.verdict is not None and (checked.verdict.verdict, checked.verdict.score) == (
        "pass",
        0.8,
    )
    assert checked.tests is not None and checked.tests.exit_code == 0
    assert checked.journeys[0].final_text == "Notes"
    assert (
        checked.validator is not None and checked.validator.observed[0].tool == "browser_snapshot"
    )


def _ctx(outputs: dict[str, dict[str, Any]]) -> StepContext:
    return StepContext(None, "r-x", "validate", None, 1, {}, by_step(outputs))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "recorded",
    [{"journeys": "all of them"}, {}, {**OLD_CHECK, "validator": {"output": {"verdict": "maybe"}}}],
)
def test_a_record_of_another_shape_fails_its_step_in_one_line(recorded: dict[str, Any]) -> None:
    with pytest.raises(StepFailed) as failed:
        _ctx({"check": recorded}).output("check", CheckResult)
    message = str(failed.value)
    assert message.startswith("step check recorded no CheckResult (") and "\n" not in message


def _old_run(store: Store, issue: int, steps: dict[str, dict[str, Any]], status: str) -> str:
    run = store.create_run("validate", issue, {"number": issue}, {})
    for step_id, outputs in steps.items():
        seq = store.start_step(run.id, step_id, {"kind": "action", "action": f"validate.{step_id}"})
        store.finish_step(seq, "succeeded", outputs)  # no artifact type: an older record
    store.set_run_status(run.id, status)
    return run.id


def test_a_validation_killed_before_the_upgrade_resumes_from_its_older_records(
    tmp_path: Path,
) -> None:
    repo = make_factory_repo(tmp_path / "repo")
    services = open_services(repo, tmp_path / "state")
    number = services.forge.create_issue("Show how many notes", "Please.", "owner").number
    older = {"prepare": OLD_PREPARE, "ci": {"state": "none", "waited_s": 0.0}}
    older |= {"baseline": OLD_BASELINE, "check": OLD_CHECK}
    run_id = _old_run(services.store, number, older, "running")  # killed before decide

    outcome = Engine(services).run("validate", number, ValidateInputs(number=number))
    assert (outcome.run_id, outcome.status) == (run_id, "succeeded"), outcome.reason
    (decided,) = services.store.artifacts(Validation, number)
    validation = decided[1]
    # the older records gave the route its evidence: a pass in the review band goes to review
    assert validation.route == "needs_review" and validation.score == 0.8
    assert (validation.candidate, validation.production_sha) == (CANDIDATE, PRODUCTION)
    assert {g.name for g in validation.gates} >= {"changed_lines", "journeys", "validator"}
    labels = services.forge.get_issue(number).labels
    assert "factory:needs-review" in labels


def test_earned_trust_counts_validations_recorded_by_an_older_version(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state")
    merged = {"merge_sha": "1" * 40, "branch": "main", "tested_tree": TREE, "landed_tree": TREE}
    smoke = {**{k: OLD_CHECK[k] for k in ("sha", "journeys", "tree")}, "reverted": None}
    older = {"prepare": OLD_PREPARE, "check": OLD_CHECK, "merge": merged}
    _old_run(store, 1, {**older, "smoke": {**smoke, "journeys_passed": True}}, "succeeded")
    (tally,) = store.trust_tallies().values()
    # a green merge of a bug, not approved by a person: counted, earning nothing
    assert tally.kind == "bug" and tally.newest == {} and tally.approved_after == {None: 0}
