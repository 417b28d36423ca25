"""Lessons a rule can fix, remembered (docs/learning.md): a cause the factory already handles
in code — a change taken up again on a production that moved under it, a suite its time
limit stopped twice — is no lesson, nor is what refused nothing (a gate report that passed a
change on, an approving review, a trifling finding) or what the validator did (the journeys,
its verdict); the learner's "no edit" for a cause is remembered until new evidence for it
arrives; causes take turns by weight, so a heavier cause whose edit was refused does not keep
the next one from its turn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.artifacts import Finding, GateReport, GateResult, Review, Validation
from harness.cli.common import state_dir
from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.factory_repo import make_factory_repo

FILE = "The error path of add_note has no test."
REBASED = "factory_rules.md — max_rebases; what lands must merge with production as tested"
TIMED = "factory.yaml — commands.test_timeout_s"
LESSON = "- Every error path has a test."


def _record(store: Store, workflow: str, issue: int, record: Any) -> None:
    run = store.create_run(workflow, issue, {}, {})
    seq = store.start_step(run.id, "step", {})
    store.finish_step(seq, "succeeded", record.model_dump(), artifact=type(record).__name__)
    store.set_run_status(run.id, "failed" if workflow == "implement" else "succeeded")


def reviewed(store: Store, issue: int) -> None:
    """A reviewer refused the issue's change: a medium finding on app.py."""
    finding = Finding(severity="high", description=FILE, file="app.py")
    _record(
        store, "implement", issue, Review(verdict="request_changes", score=0.3, findings=[finding])
    )


def gated(store: Store, issue: int, gate: str = "security") -> None:
    """The issue's change was refused by ``gate`` before its pull request."""
    failed = GateResult(name=gate, passed=False, evidence=f"{gate}: adds leftpad")
    _record(store, "implement", issue, GateReport(gates=[failed], passed=False))


def routed(store: Store, issue: int, rule: str, gate: str) -> None:
    """A validation routed in code (a rebase, a time limit) with ``gate`` failing."""
    failed = GateResult(name=gate, passed=False, evidence="production moved under it")
    said = {"reason": "taken up again", "score": 0.95, "verdict": "pass", "fix_attempts": 0}
    decided = Validation(route="retry", gates=[failed], implement_run="r", pr=1, rule=rule, **said)
    _record(store, "validate", issue, decided)


def repo_answering(tmp_path: Path, answers: dict[str, dict[str, str]]) -> Path:
    """A repository whose learner answers each lesson (by a word of its evidence) so."""
    rules = []
    for match, edit in answers.items():
        given = {"file": "factory_rules.md", "title": "A lesson", "why": "Asked.", **edit}
        turn = [{"tool": "submit_governance_edit", "input": given}]
        rules.append({"output": "submit_governance_edit", "match": match, "turns": [turn]})
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump(rules))
    return make_factory_repo(
        tmp_path / "repo", provider={"type": "scripted", "script": str(script)}
    )


def cli(capsys, repo: Path, *args: str, code: int = 0) -> Any:
    res = run_cli(capsys, "--repo", str(repo), *args)
    assert res.code == code, res.err
    return res.json()


def learner_calls(repo: Path) -> int:
    store = Store.open(state_dir(repo))
    runs = store.list_runs(limit=None, workflow="lessons")
    calls = sum(len(store.calls(run.id)) for run in runs)
    store.close()
    return calls


def test_a_cause_the_factory_handles_in_code_is_no_lesson(tmp_path: Path, capsys) -> None:
    repo = repo_answering(tmp_path, {".": {"old_text": "", "new_text": LESSON}})
    store = Store.open(state_dir(repo))
    for issue in (1, 2, 3):  # production moved under each: rebased, no fix attempt spent
        routed(store, issue, REBASED, "merges_with_production")
    for issue in (4, 5):  # the suite did not finish in its time, twice: a person raises it
        routed(store, issue, TIMED, "tests_on_candidate")
    for issue in (6, 7):  # the journeys and the validator judge what the validator did
        for gate in ("journeys", "validator"):
            routed(store, issue, "max_fix_attempts; every gate must pass", gate)
    for issue in (8, 9):  # implement passed these on, for validation to route: no refusal
        failed = GateResult(name="security", passed=False, evidence="security: adds leftpad")
        _record(store, "implement", issue, GateReport(gates=[failed], passed=True))
    for issue in (10, 11):  # a review that approved, and one that asked only for a trifle
        serious = Finding(severity="high", description=FILE, file="app.py")
        _record(store, "implement", issue, Review(verdict="approve", score=0.9, findings=[serious]))
        trifle = Finding(severity="low", description=FILE, file="app.py")
        asked = Review(verdict="request_changes", score=0.6, findings=[trifle])
        _record(store, "implement", issue, asked)
    store.close()
    assert cli(capsys, repo, "lessons", "--json") == []
    (row,) = cli(capsys, repo, "lessons", "propose", "--json")
    assert (row["about"], row.get("pr")) == (None, None)
    assert learner_calls(repo) == 0


def test_no_edit_is_remembered_until_new_evidence_arrives(tmp_path: Path, capsys) -> None:
    repo = repo_answering(tmp_path, {"add_note": {"old_text": "", "new_text": ""}})
    store = Store.open(state_dir(repo))
    for issue in (1, 2):
        reviewed(store, issue)
    store.close()
    (row,) = cli(capsys, repo, "lessons", "propose", "--json")
    assert (row["status"], row["about"], row.get("pr")) == ("succeeded", "file:app.py", None)
    asked = learner_calls(repo)
    assert asked == 1
    (lesson,) = cli(capsys, repo, "lessons", "--json")
    assert (lesson["proposal"], lesson["proposable"]) == ("no edit", False)

    (again,) = cli(capsys, repo, "lessons", "propose", "--json")
    assert again["about"] is None and learner_calls(repo) == asked  # not asked again

    store = Store.open(state_dir(repo))
    reviewed(store, 3)  # a refusal of a new issue: new evidence for the cause
    store.close()
    (lesson,) = cli(capsys, repo, "lessons", "--json")
    assert (lesson["proposal"], lesson["proposable"], lesson["independent"]) == (None, True, 3)
    (third,) = cli(capsys, repo, "lessons", "propose", "--json")
    assert third["about"] == "file:app.py" and learner_calls(repo) == asked + 1


def test_causes_take_turns_by_weight(tmp_path: Path, capsys) -> None:
    """Three issues refused over app.py, two by the security gate: the heavier cause goes
    first; its edit refused (it touches CLAUDE.md), it is still proposable, yet the next run
    picks the security cause, whose turn it now is, and proposes it."""
    answers = {
        "add_note": {"file": "CLAUDE.md", "old_text": "", "new_text": LESSON},
        "leftpad": {"old_text": "", "new_text": "- A dependency is for a person to add."},
    }
    repo = repo_answering(tmp_path, answers)
    store = Store.open(state_dir(repo))
    for issue in (1, 2, 3):
        reviewed(store, issue)
    for issue in (4, 5):
        gated(store, issue)
    store.close()
    found = {x["about"]: x for x in cli(capsys, repo, "lessons", "--json")}
    assert [found[a]["proposable"] for a in ("file:app.py", "gate:security")] == [True, True]

    (first,) = cli(capsys, repo, "lessons", "propose", "--json", code=1)
    assert first["about"] == "file:app.py" and "never edits CLAUDE.md" in first["reason"]
    (second,) = cli(capsys, repo, "lessons", "propose", "--json")
    assert (second["about"], second["status"]) == ("gate:security", "succeeded")
    assert second["pr"] > 0
    (third,) = cli(capsys, repo, "lessons", "propose", "--json", code=1)
    assert third["about"] == "file:app.py"  # its turn again: 3 / 2 against nothing left
