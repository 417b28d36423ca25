"""No path lets a lesson change governance or spend beyond its budget: the learner's calls
stop at ``lessons.max_usd``; an edit that is not one small replacement found once in
factory_rules.md or CLAUDE.md, or that loosens a setting or deletes a rule, is refused before
anything is committed; a citation of a rule the governance no longer says is stale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.artifacts import Finding, Healed, Review
from harness.cli.common import state_dir
from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.factory_repo import RULES, git, make_factory_repo

ASKED = "The error path of add_note has no test."


def repo_with_a_lesson(tmp_path: Path, rules: str, edit: dict[str, Any]) -> Path:
    """Two refused attempts (the reviewer's records, as the implement workflow keeps them)
    on two issues, the same finding on app.py, and a learner scripted to answer ``edit``."""
    script = tmp_path / "script.yaml"
    turn = [{"tool": "submit_governance_edit", "input": edit}]
    script.write_text(yaml.safe_dump([{"output": "submit_governance_edit", "turns": [turn]}]))
    provider = {"type": "scripted", "script": str(script)}
    repo = make_factory_repo(tmp_path / "repo", provider=provider, rules=rules)
    store = Store.open(state_dir(repo))
    review = Review(
        verdict="request_changes",
        score=0.3,
        findings=[Finding(severity="high", description=ASKED, file="app.py")],
    )
    for issue in (1, 2):
        run = store.create_run("implement", issue, {}, {})
        seq = store.start_step(run.id, "review", {})
        store.finish_step(seq, "succeeded", review.model_dump(), artifact="Review")
        store.set_run_status(run.id, "failed", reason="the reviewer refused it")
    store.close()
    return repo


EDIT = {
    "file": "factory_rules.md",
    "old_text": "- Never edit tests to make them pass.",
    "new_text": "- Never edit tests to make them pass.\n- Every error path has a test.",
    "title": "Every error path has a test",
    "why": "Asked twice.",
}


def propose(capsys, repo: Path) -> tuple[int, list[dict[str, Any]]]:
    res = run_cli(capsys, "--repo", str(repo), "lessons", "propose", "--json")
    return res.code, res.json()


def nothing_written(repo: Path) -> None:
    assert git(repo, "branch", "--list", "factory/lesson-*").strip() == ""
    assert git(repo, "status", "--porcelain").strip() == ""
    store = Store.open(state_dir(repo))
    assert store.prs() == []
    store.close()


def test_the_learner_stops_at_the_lessons_budget(tmp_path: Path, capsys) -> None:
    rules = RULES.replace("---\n", "---\nlessons: {max_usd: 0.01}\n", 1)
    repo = repo_with_a_lesson(tmp_path, rules, EDIT)
    code, (row,) = propose(capsys, repo)
    assert code == 1 and row["status"] == "failed" and row.get("pr") is None
    assert "lessons.max_usd $0.01 would be exceeded" in row["reason"]
    nothing_written(repo)


TRUSTED = RULES.replace("---\n", "---\ntrust: {default: {start: review}}\n", 1)
PROTECTED = "protected_paths: [mission.md, factory_rules.md, CLAUDE.md, factory.yaml]"


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        ("- A rule the file does not hold.", "- x", "old_text is not found exactly once"),
        ("max_fix_attempts: 2", "max_fix_attempts: many", "the rules would no longer read"),
        ("- Never edit tests to make them pass.", "- x\n" * 40, "over 30 lines"),
        # a lesson only makes the factory stricter or clearer, judged from the rules it leaves
        (
            "trusted_authors: [owner]",
            "trusted_authors: [owner, mallory]",
            "it loosens triage.trusted_authors (['owner'] → ['owner', 'mallory'])",
        ),
        ("per_day_usd: 50.0", "per_day_usd: 5000.0", "it loosens budgets.per_day_usd (50.0"),
        ("min_score: 0.9", "min_score: 0.75", "it loosens auto_merge.min_score (0.9 → 0.75)"),
        ("max_changed_lines: 500", "max_changed_lines: 400\n" + PROTECTED, "protected_paths"),
        ("review_band: 0.7", "review_band: 0.7\nlessons: {cases: 9}", "lessons.cases (3 → 9)"),
        (
            "- Never edit tests to make them pass.",
            "- Edit a test only when it is wrong.",
            "it deletes the rule '- Never edit tests to make them pass.' of factory_rules.md",
        ),
        (
            "trust: {default: {start: review}}",
            "trust: {default: {start: review}, kind:docs: {start: auto}}",
            "it loosens trust.kind:docs.start ('review' → 'auto')",
        ),
    ],
)
def test_an_edit_that_is_not_small_found_once_readable_and_stricter_is_refused(
    tmp_path: Path, capsys, old: str, new: str, why: str
) -> None:
    rules = TRUSTED if old.startswith("trust:") else RULES
    repo = repo_with_a_lesson(tmp_path, rules, {**EDIT, "old_text": old, "new_text": new})
    code, (row,) = propose(capsys, repo)
    assert code == 1 and row.get("pr") is None and why in row["reason"], row["reason"]
    nothing_written(repo)


def test_an_edit_that_only_tightens_settings_is_proposed(tmp_path: Path, capsys) -> None:
    """A rule of its own for a kind, a higher score to merge, fewer lines, attempts and
    dollars, one trusted author fewer, a lower severity for the security gate: stricter."""
    rules = TRUSTED.replace("[owner]", "[owner, bob]")
    old = rules.split("---\n")[1].strip()
    new = (
        old.replace("{start: review}}", "{start: review}, kind:bug: {earn_after: 5}}")
        .replace("min_score: 0.9", "min_score: 0.95")
        .replace("max_changed_lines: 500", "max_changed_lines: 300")
        .replace("max_fix_attempts: 2", "max_fix_attempts: 1")
        .replace("per_day_usd: 50.0", "per_day_usd: 20.0")
        .replace("[owner, bob]", "[owner]")
        + "\nsecurity: {severity: medium}"
    )
    repo = repo_with_a_lesson(tmp_path, rules, {**EDIT, "old_text": old, "new_text": new})
    code, (row,) = propose(capsys, repo)
    assert (code, row["status"], row["rehearsal"]["stopped"]) == (
        0,
        "succeeded",
        "no past case to rehearse",
    )
    store = Store.open(state_dir(repo))
    assert "+security: {severity: medium}" in store.prs()[0].body
    store.close()


def test_a_persons_reasons_are_citations_checked_against_the_governance(
    tmp_path: Path, capsys
) -> None:
    """``factory approve --reason`` and ``factory reject --reason`` keep their words in the
    audit trail; one that cites a rule the governance no longer says is stale."""
    repo = make_factory_repo(tmp_path / "repo")
    store = Store.open(state_dir(repo))
    for issue, kind, reason in (
        (1, "human.approve", "Fine. factory_rules.md: Keep changes small and focused"),
        (2, "human.reject", "factory_rules.md: Never merge on Fridays"),
    ):
        store.append_event(None, kind, {"issue": issue, "actor": "ann", "reason": reason})
    store.close()
    res = run_cli(capsys, "--repo", str(repo), "lessons", "--json")
    found = {x["about"]: x for x in res.json()}
    (held,) = found["rule:factory_rules.md: Keep changes small and focused"]["citations"]
    assert (held["source"], held["issue"], held["stale"]) == ("maintainer", 1, None)
    assert held["words"] == "approve: Fine. factory_rules.md: Keep changes small and focused"
    gone = found["rule:factory_rules.md: Never merge on Fridays"]
    assert gone["stale"] and gone["citations"][0]["stale"] == (
        "factory_rules.md no longer says 'Never merge on Fridays'"
    )


def test_a_regression_heal_blamed_on_a_factory_merge_cites_the_files_it_changed(
    tmp_path: Path, capsys
) -> None:
    """Heal's record (``Healed``) of a factory merge that broke production joins the lesson
    about the file it changed, beside a reviewer's finding on another issue."""
    repo = repo_with_a_lesson(tmp_path, RULES, EDIT)
    (repo / "app.py").write_text("print('notes, broken')\n")
    git(repo, "commit", "-qam", "Merge factory/issue-7: show the count")
    culprit = git(repo, "rev-parse", "HEAD").strip()
    store = Store.open(state_dir(repo))
    run = store.create_run("heal", None, {}, {})
    said = {"sha": culprit, "reason": "1 of 1 checks fail again", "culprit": culprit}
    healed = Healed(outcome="reverted", culprit_issue=7, regression_issue=8, chain=1, **said)
    seq = store.start_step(run.id, "act", {})
    store.finish_step(seq, "succeeded", healed.model_dump(), artifact="Healed")
    store.close()
    res = run_cli(capsys, "--repo", str(repo), "lessons", "--json")
    (lesson,) = [x for x in res.json() if x["about"] == "file:app.py"]
    regression = [c for c in lesson["citations"] if c["source"] == "regression"]
    assert [(c["issue"], c["file"]) for c in regression] == [(7, "app.py")]
    assert regression[0]["words"] == f"regression since {culprit[:12]}: 1 of 1 checks fail again"
    assert lesson["independent"] == 3  # issues 1 and 2 (the reviewer), 7 (the regression)


def test_a_rehearsal_stopped_after_its_first_backtest_still_makes_a_proposal() -> None:
    """The lessons' budget can stop the rehearsal after production's backtest: the pull
    request shows that summary and why it stopped (the soak found the body failing there)."""
    from harness.engine.templates import Templates

    before = {"resolved": 1, "would_merge": 1, "false_merges": 0, "missed": 0, "cost_usd": 0.1}
    case = {"id": "15@e2c3", "issue": 15, "resolved": False, "route": None, "triage": None}
    case |= {"changed": None}
    rehearsal = {"backtests": ["bt-1"], "cases": [case], "before": before, "after": {}}
    body = Templates().render(
        "comments/lesson_pr.md.j2",
        lesson={"about": "gate:tests_kept", "citations": [], "independent": 2},
        edit={"file": "factory_rules.md", "title": "A rule", "why": "Twice refused."},
        diff="+ a rule",
        proposal={
            "branch": "factory/lesson-1",
            "rehearsal": {**rehearsal, "stopped": "budget lessons.max_usd would be exceeded"},
        },
    )
    assert "| before | 1 | 1 | 0 | 0 |" in body and "| after |" not in body
    assert "The rehearsal stopped: budget lessons.max_usd would be exceeded" in body
