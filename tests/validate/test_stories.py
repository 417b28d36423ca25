"""The acceptance stories on the demo app: the scripted model plays an honest model through
the real SDK and the stand-in, and the factory's code decides where each change goes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.artifacts import CriterionResult, Landing, Smoke, ValidatorRun, Verdict
from harness.artifacts.browser import Observation
from harness.artifacts.verdict import criterion_ids
from harness.config.settings import load_settings
from harness.git.repo import GitRepo
from harness.model.blocks import estimate_tokens
from harness.sandbox.bwrap import sandbox_available
from harness.store.db import Store
from harness.validate import evidence
from harness.validate.evidence import fresh_root
from harness.validate.sealed import ValidatorQuestion
from tests.checks_passed import analysers_find_nothing
from tests.standins.anthropic_standin import AnthropicStandIn
from tests.store_reads import pull_requests
from tests.validate.conftest import (
    HOLDOUT_CANARY,
    file_issues,
    issue,
    role_of,
    run_once,
    serve,
)
from tests.validate.scenarios import (
    RENAME,
    REVIEW_BAND,
    UNSEEN,
    Guarded,
    Waiting,
    decisions,
)

# stories read package fixtures other modules read too (``guarded``, ``waiting``): one worker
# runs them all
pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(600),
    pytest.mark.together("validate-shared"),
]

SUMMARY = "DISTINCT-SUMMARY-4411: the heading has no count of notes under it"


def requests(server: AnthropicStandIn, role: str) -> list[dict[str, Any]]:
    return [body for _, body in server.received if role_of(body) == role]


def first_requests(server: AnthropicStandIn, role: str) -> list[str]:
    """The text of each first request of ``role`` (one per step run), in order."""
    return [json.dumps(b) for b in requests(server, role) if len(b["messages"]) == 1]


def labels(capsys, repo: Path, n: int) -> set[str]:
    return set(issue(capsys, repo, n)["labels"])


@pytest.mark.skipif(not sandbox_available(), reason="bubblewrap (bwrap) is not installed")
def test_a_empty_state_criterion_is_observed_on_a_fresh_app_and_merged(guarded: Guarded) -> None:
    # "show N notes", with "0 notes" for no notes: the change of test_setup_network.py's cycle
    # (the demo's change to the page; its implementer also rewrites the setup script, and
    # every setup reaches nothing: none of which the page shows)
    repo, state = guarded.repo, guarded.state
    data = guarded.issue
    assert data["state"] == "closed" and "factory:merged" in data["labels"]
    assert "factory:accepted" not in data["labels"]  # a terminal label replaces it
    # the journey added "Buy milk" on its own app; the validator's first look is a fresh app
    seen = [
        b["messages"]
        for b in guarded.received
        if role_of(b) == "validator" and "Check issue 1 in the running app" in json.dumps(b)
    ]
    first_look = next(m for m in seen if len(m) == 3)[-1]["content"][0]["content"]
    assert first_look.startswith("[observation 1] URL: http://") and "0 notes" in first_look
    assert "Buy milk" not in first_look
    store = Store.open(state)
    run = store.list_runs(limit=None, workflow="validate", issue=1)[
        0
    ]  # approved by a person (a setup change)
    check = next(s.outputs for s in store.steps(run.id) if s.step_id == "check")
    assert any(j["passed"] and "Buy milk" in j["final_text"] for j in check["journeys"])
    assert [d["route"] for d in decisions(state, 1)] == ["needs_review", "merge"]
    # the landing and the smoke run after it are found by type and issue, not by step id
    landing, smoke = store.latest_artifact(Landing, 1), store.latest_artifact(Smoke, 1)
    assert landing is not None and smoke is not None
    assert landing.landed_tree == landing.tested_tree == check["tree"]
    assert (landing.pr, landing.head) == (decisions(state, 1)[-1]["pr"], check["head"])
    assert smoke.sha == landing.merge_sha and smoke.journeys_passed and smoke.reverted is None
    # every check's copy of the app was deleted after it
    settings = load_settings(repo, state)
    assert not any(fresh_root(settings.state_dir).iterdir())


def test_b_renaming_a_button_a_journey_relies_on_is_a_holdout_conflict(
    waiting: Waiting,
) -> None:
    # rename Add to Save (#5 of tests/validate/scenarios.py's WAITING): the hold-out journey
    # clicks "Add"; the cycle after it has nothing left to do for it: no retry
    n, state = RENAME, waiting.state
    data = waiting.second[n]
    assert "factory:needs-human" in data["labels"]
    assert not {"factory:accepted", "factory:failed", "factory:merged"} & set(data["labels"])
    assert waiting.implemented[n] == 1
    assert waiting.validated[n] == 1
    assert waiting.prs[n] == ["closed"]
    (decided,) = waiting.decided[n]
    assert decided["route"] == "holdout_conflict" and decided["score"] == 0.95
    comment = next(c["body"] for c in data["comments"] if "validate:holdout_conflict" in c["body"])
    assert "hold-out conflict" in comment and "does not try again" in comment
    assert "| journeys | FAIL |" in comment and "| validator | pass |" in comment

    # a maintainer sides with the issue: the journey now clicks the form's button, whatever
    # its word (it must still pass on production), production moves on, and the issue is
    # queued again; the next attempt starts from the refused change merged onto production
    # as it is now, is told a person retried it and that the hold-out changed, and merges
    assert waiting.journey_edited
    res = waiting.retried
    assert res is not None and res.code == 0 and "queued for implementation" in res.out, res
    data = waiting.last[n]
    assert data["state"] == "closed" and "factory:merged" in data["labels"]
    store = Store.open(state)
    first, second = reversed(store.list_runs(limit=None, workflow="implement", issue=n))
    refused = next(s.outputs for s in store.steps(first.id) if s.step_id == "commit")["head"]
    tree = next(s.outputs for s in store.steps(second.id) if s.step_id == "worktree")
    repo = GitRepo(waiting.repo)
    assert tree["base_sha"] == waiting.moved_to and tree["conflicts"] == []
    assert repo.rev_parse(f"{tree['start_sha']}^") == waiting.moved_to
    started = tree["start_sha"]
    assert repo.read_blob(started, "CHANGES.md") == b"A maintainer's note.\n"
    assert repo.read_blob(started, "app.py") == repo.read_blob(refused, "app.py")
    asked = waiting.implementer_asked[-1]
    assert "Since then a person (" in asked and "sent it back to you" in asked
    assert "The hidden user journeys have changed since it was judged" in asked
    assert "form button" not in asked  # whether it changed, never what
    assert all("hidden user journeys" not in a for a in waiting.implementer_asked[:-1])
    store.close()
    assert [d["route"] for d in decisions(state, n)] == ["holdout_conflict", "merge"]


@pytest.fixture
def failing_with_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app
) -> Iterator[AnthropicStandIn]:
    _, holdout = app
    # a hidden journey that passes on production and fails on the change, canaries in it: the
    # hold-out's only one (the demo's journey would pass everywhere: a browser for nothing)
    (holdout / "journeys" / "add_note.yaml").unlink()
    (holdout / "journeys" / "no_counter.yaml").write_text(
        f"name: no counter {HOLDOUT_CANARY}\nsteps:\n  - goto: /\n"
        f"  - fill: {{label: Note, value: '{HOLDOUT_CANARY} typed'}}\n"
        "  - expect_no_text: 0 notes\n"
    )
    monkeypatch.setattr(evidence, "_validator_check", _fails_with_summary)
    analysers_find_nothing(monkeypatch)  # the security gate's: neither attempt adds a finding
    yield from serve(tmp_path, monkeypatch)


def _fails_with_summary(at: Any, question: ValidatorQuestion, earlier: Any) -> ValidatorRun:
    """The sealed validator's run, standing in (what is read of it is the record it leaves:
    the sealed validator's own failing verdicts are test_validate.py's and
    test_per_criterion.py's): each criterion failed on the home page, said in ``SUMMARY``."""
    failed = [
        CriterionResult(criterion=c, result="fail", observations=[1], evidence="the home page")
        for c in criterion_ids(question.criteria)
    ]
    said = Verdict(verdict="fail", score=0.3, summary=SUMMARY, criteria=failed)
    seen = Observation(tool="browser_snapshot", input={}, seen="Notes", number=1)
    return ValidatorRun(output=said, observed=[seen], asked=question.digest())


def test_c_a_retry_learns_what_went_wrong_and_continues_from_its_branch(
    tmp_path: Path, capsys, app, failing_with_summary
) -> None:
    repo, _ = app
    server = failing_with_summary
    file_issues(capsys, repo, [1])
    run_once(capsys, repo)
    assert "factory:accepted" in labels(capsys, repo, 1)  # routed to a retry
    run_once(capsys, repo)

    store = Store.open(tmp_path / "state")
    first, second = reversed(store.list_runs(limit=None, workflow="implement", issue=1))
    steps = [{s.step_id: s.outputs for s in store.steps(r.id)} for r in (first, second)]
    refused_head = steps[0]["commit"]["head"]
    # a fix, not a re-roll: the retry starts from the refused change merged onto production
    # as it is now (so the fix is made where it will land), and is one commit on it
    start, base = steps[1]["worktree"]["start_sha"], steps[1]["worktree"]["base_sha"]
    git = GitRepo(repo)
    assert git.rev_parse(f"{start}^1") == base == git.rev_parse(f"{refused_head}^1")
    assert git.read_blob(start, "app.py") == git.read_blob(refused_head, "app.py")
    assert steps[1]["worktree"]["conflicts"] == []
    assert git.rev_parse(f"{steps[1]['commit']['head']}^1") == base
    # attempts counted across validations
    assert [s["gates"]["fix_attempts"] for s in steps] == [0, 1]
    fix_gate = next(g for g in steps[1]["gates"]["gates"] if g["name"] == "fix_attempts")
    assert fix_gate["evidence"].startswith("1 fix attempts")
    bodies = [pr.body for pr in pull_requests(store, 1)]
    assert sum("Continues the refused attempt on branch" in b for b in bodies) == 1
    assert any("1 fix attempt so far" in b for b in bodies)

    implementer = first_requests(server, "implementer")
    planner = first_requests(server, "planner")
    assert len(implementer) == 2 and len(planner) == 2
    assert SUMMARY not in implementer[0] and SUMMARY not in planner[0]
    for text in (implementer[1], planner[1]):
        assert SUMMARY in text
        assert "A hidden user journey that passes on production fails on this change" in text
        assert "verdict fail, score 0.30" in text
    # the hold-out stays sealed: never a journey's name, steps or values
    for role in ("triage", "planner", "implementer", "reviewer"):
        assert not any(HOLDOUT_CANARY in json.dumps(b) for b in requests(server, role))
    routes = [d["route"] for d in decisions(tmp_path / "state", 1)]
    assert routes == ["retry", "retry"]
    # the Essay Principle: beyond governance and tools, a retry's first request stays short
    for role in ("planner", "implementer"):
        body = [b for b in requests(server, role) if len(b["messages"]) == 1][-1]
        assert estimate_tokens([body["system"][1:], body["messages"]]) < 4000


def test_d_a_score_in_the_review_band_with_green_journeys_needs_review(
    waiting: Waiting,
) -> None:
    # "how many notes" (#1 of tests/validate/scenarios.py's WAITING), scored 0.8
    n = REVIEW_BAND
    data = waiting.first[n]
    assert "factory:needs-review" in data["labels"] and "factory:accepted" not in data["labels"]
    (decided,) = decisions(waiting.state, n)
    assert decided["route"] == "needs_review" and decided["score"] == 0.8
    assert "review band" in decided["reason"]
    comment = next(c["body"] for c in data["comments"] if "validate:needs_review" in c["body"])
    assert "validator score 0.80" in comment and "| journeys | pass |" in comment
    assert waiting.prs_after_first[n] == ["open"]
    # the cycles after it: it waits for a person, neither validated nor implemented again
    assert len(decisions(waiting.state, n)) == 1
    assert waiting.implemented[n] == 1


def test_a_criterion_the_validator_cannot_observe_needs_review(waiting: Waiting) -> None:
    # a second wording of "how many notes" (#2 of WAITING), one criterion not observable
    n = UNSEEN
    assert "factory:needs-review" in waiting.first[n]["labels"]
    (decided,) = decisions(waiting.state, n)
    assert decided["route"] == "needs_review" and decided["score"] == 0.95
    unseen = "C1 (With no notes, the home page shows the text 0 notes.): the home page"
    assert decided["not_observable"] == [unseen]
    assert decided["reason"] == f"the validator could not observe {unseen}"
