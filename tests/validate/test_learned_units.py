"""Learned checks without a browser (docs/how-it-works.md, "Learned checks"): the route of a
change that breaks one, what a validation's record makes of them, how their replays are
grouped onto apps, and the hold-out's digest. Their replays, adoption and retirement run for
real in ``tests/heal/test_learned.py`` and ``test_learned_story.py``."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from harness.artifacts import CheckResult, HoldoutRun, PrCandidate
from harness.artifacts.browser import JourneyResult, Observation
from harness.browser.journeys import Learned, apps_for, learned_checks, load_journeys
from harness.config.models import Rules
from harness.validate.calibration import holdout_digest
from harness.validate.learned import adopt, candidates, keep
from harness.validate.route import decide_route

SPEC = {"number": 4, "decision": "accept", "kind": "feature"}
RENAME = "The Export button on the home page is named Download."


def routed(intended: list[dict[str, str]], regressions: int = 0, kind: str = "feature") -> Any:
    """The route of a change whose validator passed its one criterion (``RENAME``) while the
    learned check 1-C1, which showed ``button "Export"``, fails on it."""
    spec = {**SPEC, "kind": kind, "acceptance_criteria": [RENAME]}
    candidate = PrCandidate(
        pr=1, branch="b", head="a" * 40, base="main", gates=[], implement_run="r", spec=spec
    )
    failing = {"name": "learned:1-C1", "passed": False, "steps_run": 2, "failed_step": 2}
    journeys = [{"name": "a journey", "passed": True, "steps_run": 1}, failing]
    verdict = {
        "verdict": "pass",
        "score": 0.95,
        "criteria": [
            {"criterion": "C1", "result": "pass", "observations": [1], "quote": 'button "Download"'}
        ],
        "regressions": [{"what": "learned check 1-C1", "observations": [1]}] * regressions,
        "intended": intended,
    }
    checked = CheckResult.model_validate(
        {
            "sha": "c" * 40,
            "tree": "t" * 40,
            "production_sha": "p" * 40,
            "head": "a" * 40,
            "journeys": [*journeys[:1], {**failing, "expected": 'button "Export"'}],
            "journeys_passed": True,  # the journeys: a learned check is the validator's to answer
            "validator": {
                "output": verdict,
                "observed": [
                    {"tool": "browser_snapshot", "input": {}, "seen": "s", "number": 1}
                    | {"excerpt": '- button "Download"'}
                ],
            },
        }
    )
    return decide_route(Rules(), candidate, checked, "success")


def test_a_failing_learned_check_the_change_intends_by_a_criterion_naming_it_merges() -> None:
    decided = routed([{"check": "1-C1", "criterion": "C1"}])
    assert decided.route == "merge", decided.reason
    gate = next(g for g in decided.gates if g.name == "learned_checks")
    assert gate.passed


def test_a_failing_learned_check_the_validator_calls_a_regression_sends_the_change_back() -> None:
    decided = routed([], regressions=1)
    assert decided.route == "retry"
    assert "learned_checks" in decided.reason and "validator_regressions" in decided.reason
    gate = next(g for g in decided.gates if g.name == "learned_checks")
    assert gate.evidence == "learned check 1-C1 no longer holds"
    journeys = next(g for g in decided.gates if g.name == "journeys")
    assert journeys.evidence.startswith("1/1 hold-out journeys passed")  # the check is not one


def test_intended_by_a_criterion_that_does_not_name_it_or_not_answered_goes_to_a_person() -> None:
    spec_words = routed([{"check": "1-C1", "criterion": "C2"}])  # no such criterion
    assert spec_words.route == "needs_review"
    assert routed([]).route == "needs_review"  # neither intended nor a regression


def test_a_revert_is_not_held_by_the_learned_checks_it_undoes() -> None:
    decided = routed([], kind="revert")
    assert "learned_checks" not in {g.name for g in decided.gates}


def _seen(n: int, tool: str, given: dict[str, Any], excerpt: str) -> Observation:
    return Observation(tool, given, "d", number=n, excerpt=excerpt)


def test_a_value_any_visitor_is_shown_may_be_typed_one_shown_after_acting_may_not() -> None:
    home = _seen(1, "browser_snapshot", {}, 'link "/about" - text: code WELCOME42')
    typed = _seen(2, "browser_type", {"label": "Code", "text": "WELCOME42", "submit": True}, "ok")
    made = _seen(3, "browser_click", {"text": "Make"}, "token: SECRET99")
    back = _seen(4, "browser_type", {"label": "Code", "text": "SECRET99", "submit": True}, "ok")
    run = {
        "output": {
            "verdict": "pass",
            "score": 1.0,
            "criteria": [
                {"criterion": "C1", "result": "pass", "observations": [2], "quote": "ok"},
                {"criterion": "C2", "result": "pass", "observations": [4], "quote": "ok"},
                {"criterion": "C3", "result": "pass", "observations": [1], "quote": "nowhere"},
                {"criterion": "C4", "result": "fail", "observations": [1], "quote": "WELCOME42"},
            ],
        },
        "observed": [home, typed, made, back],
        "criteria": ["a", "b", "c", "d"],
    }
    check = CheckResult.model_validate(
        {**HoldoutRun(sha="s", tree="t", journeys=[], journeys_passed=True).model_dump()}
        | {"production_sha": "p", "head": "h", "validator": run}
    )
    ctx = SimpleNamespace(number=7, services=SimpleNamespace(settings=SimpleNamespace()))
    ctx.services.settings.holdout_dir = Path("/nonexistent")
    found = {c.id: c for c in candidates(ctx, check, "m" * 40)}  # type: ignore[arg-type]
    assert set(found) == {"7-C1", "7-C2"}  # a quote its observation does not show; a fail
    assert found["7-C1"].why == "" and len(found["7-C1"].actions) == 2
    assert found["7-C2"].why == "observation 4 gives what the app showed only after it acted"


def test_adopted_only_when_both_replays_show_its_quote(tmp_path: Path) -> None:
    tried = [
        Learned(id=f"1-C{n}", merge="m", actions=[("browser_snapshot", {})], quote="q")
        for n in (1, 2)
    ]
    held = JourneyResult("learned:1-C1", True, 1)
    once = JourneyResult("learned:1-C2", False, 1, 1)
    smoke = HoldoutRun(
        sha="s",
        tree="t",
        journeys=[held, held, JourneyResult("learned:1-C2", True, 1), once],
        journeys_passed=True,
    )
    ctx = SimpleNamespace(services=SimpleNamespace(settings=SimpleNamespace(holdout_dir=tmp_path)))
    adopt(ctx, tried, smoke)  # type: ignore[arg-type]
    kept = {c.id: c for c in learned_checks(tmp_path)}
    assert kept["1-C1"].state == "adopted"
    assert (kept["1-C2"].state, kept["1-C2"].why) == (
        "dropped",
        "1 of 2 replays did not show its quote",
    )
    assert kept["1-C2"].actions == [] and kept["1-C2"].quote == ""  # nothing of it is kept


def test_checks_that_change_nothing_share_one_app_each_other_has_its_own(tmp_path: Path) -> None:
    look = Learned(id="1-C1", merge="m", actions=[("browser_navigate", {"url": "/"})], quote="q")
    also = Learned(id="2-C1", merge="m", actions=[("browser_snapshot", {})], quote="q")
    act = Learned(id="3-C1", merge="m", actions=[("browser_click", {"text": "Go"})], quote="q")
    (journey,) = load_journeys(Path(__file__).parents[2] / "workflows" / "demo" / "holdout")
    assert apps_for([journey, look, act, also]) == [[journey], [act], [look, also]]


def test_a_check_learned_changes_the_holdout_production_was_calibrated_against(
    tmp_path: Path,
) -> None:
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "a.yaml").write_text("name: a\nsteps:\n  - goto: /\n")
    before = holdout_digest(tmp_path)
    learned = Learned(id="1-C1", merge="m", actions=[("browser_snapshot", {})], quote="q")
    keep(tmp_path, learned, "adopted", "")
    assert holdout_digest(tmp_path) != before
