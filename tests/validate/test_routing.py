"""The route of a validated change, computed in code from the evidence (no browser, no model)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.artifacts import CheckResult, GateResult, NetworkRecord, PrCandidate
from harness.config.models import Rules
from harness.validate.route import decide_route

RULES = Rules()  # min_score 0.9, review band 0.7, max_fix_attempts 2
GATE = {"name": "changed_lines", "passed": True, "evidence": "3 changed lines"}
SPEC = {"number": 1, "decision": "accept"}


def evidence(
    journeys_pass: bool = True,
    verdict: str = "pass",
    score: float = 0.95,
    results: tuple[str, ...] = ("pass",),
    attempts: int = 0,
    gate_ok: bool = True,
    failed_actions: tuple[bool, ...] = (False,),
) -> tuple[PrCandidate, CheckResult]:
    prepared = PrCandidate(
        pr=1,
        branch="factory/1",
        head="a" * 40,
        base="main",
        gates=[{**GATE, "passed": gate_ok}],
        fix_attempts=attempts,
        implement_run="run",
        spec=SPEC,
    )
    criteria = [{"criterion": f"c{i}", "result": r, "evidence": "e"} for i, r in enumerate(results)]
    journey = {"name": "secret journey", "passed": journeys_pass, "steps_run": 2, "failed_step": 2}
    checked = CheckResult.model_validate(
        {
            "sha": "c" * 40,
            "tree": "t" * 40,
            "production_sha": "p" * 40,
            "head": "a" * 40,
            "journeys": [journey],
            "journeys_passed": journeys_pass,
            "validator": {
                "output": {
                    "verdict": verdict,
                    "score": score,
                    "criteria": criteria,
                    "summary": "s",
                },
                "observed": [
                    {"tool": "browser_click", "input": {}, "seen": "f" * 64, "error": failed}
                    for failed in failed_actions
                ],
            },
        }
    )
    return prepared, checked


@pytest.mark.parametrize(
    ("kwargs", "route"),
    [
        ({}, "merge"),
        ({"journeys_pass": False}, "holdout_conflict"),
        ({"journeys_pass": False, "score": 0.75}, "holdout_conflict"),  # passed, in the band
        ({"journeys_pass": False, "verdict": "fail", "score": 0.2}, "retry"),
        ({"journeys_pass": False, "results": ("fail",)}, "retry"),  # a criterion failed too
        ({"journeys_pass": False, "gate_ok": False}, "retry"),  # not a clean conflict
        ({"results": ("pass", "not_observable")}, "needs_review"),
        ({"results": ("fail", "not_observable"), "verdict": "fail", "score": 0.4}, "retry"),
        ({"results": ("not_observable",), "journeys_pass": False}, "holdout_conflict"),
        ({"score": 0.8}, "needs_review"),
        ({"score": 0.8, "journeys_pass": False, "verdict": "fail"}, "retry"),
        ({"verdict": "fail", "score": 0.95, "results": ("fail",)}, "retry"),
        ({"score": 0.5}, "retry"),
        ({"score": 0.5, "attempts": 1}, "retry"),
        ({"score": 0.5, "attempts": 2}, "failed"),
        ({"failed_actions": (True, True)}, "needs_review"),  # a pass on nothing it saw
        ({"failed_actions": ()}, "needs_review"),
        ({"failed_actions": (True, False)}, "merge"),
        ({"failed_actions": (True,), "journeys_pass": False}, "retry"),  # no conflict either
        ({"failed_actions": (True,), "verdict": "fail", "score": 0.2}, "retry"),
    ],
)
def test_each_route_follows_from_the_evidence(kwargs: dict[str, Any], route: str) -> None:
    prepared, checked = evidence(**kwargs)
    assert decide_route(RULES, prepared, checked, "success").route == route


def test_the_validators_score_is_kept_whatever_the_journeys_say() -> None:
    prepared, checked = evidence(journeys_pass=False, verdict="fail", score=0.6)
    routing = decide_route(RULES, prepared, checked, "success")
    assert routing.score == 0.6 and routing.verdict == "fail"
    gates = {g.name: g for g in routing.gates}
    assert not gates["journeys"].passed and not gates["validator"].passed
    assert gates["validator"].evidence.startswith("verdict fail, score 0.60")
    # the journey's own name never reaches the reason or the gate table
    assert "secret journey" not in routing.reason + str(routing.gates)


def test_red_ci_never_merges_and_auto_merge_off_goes_to_review() -> None:
    prepared, checked = evidence()
    red = decide_route(RULES, prepared, checked, "failure")
    assert red.route == "needs_review" and "CI is failure" in red.reason
    prepared, checked = evidence(score=0.5)
    assert decide_route(RULES, prepared, checked, "failure").route == "retry"
    manual = Rules.model_validate({"auto_merge": {"enabled": False}})
    prepared, checked = evidence()
    routing = decide_route(manual, prepared, checked, "success")
    assert routing.route == "needs_review" and "auto_merge is disabled" in routing.reason


def test_fix_attempts_are_counted_in_the_reason() -> None:
    prepared, checked = evidence(score=0.5, attempts=2)
    routing = decide_route(RULES, prepared, checked, "success")
    assert routing.fix_attempts == 2 and "after 2 fix attempts (max 2)" in routing.reason


def test_a_gate_only_a_person_lifts_sends_a_passing_change_to_review_by_name() -> None:
    widens = GateResult(name="network_allow", passed=False, evidence="package.json calls for x")
    prepared, checked = evidence()
    waiting = prepared.model_copy(update={"gates": [*prepared.gates, widens]})
    routing = decide_route(RULES, waiting, checked, "success")
    assert routing.route == "needs_review", routing
    assert routing.reason.endswith("(network_allow: package.json calls for x)"), routing.reason
    assert {g.name: g.passed for g in routing.gates}["network_allow"] is False
    # beside a gate that failed for good it routes as that one does
    prepared, checked = evidence(score=0.5)
    waiting = prepared.model_copy(update={"gates": [*prepared.gates, widens]})
    assert decide_route(RULES, waiting, checked, "success").route == "retry"
    # setup on production asked for hosts the egress proxy refused: the list, for a person
    prepared, checked = evidence()
    refused = {"host": "169.254.169.254", "port": 80, "method": "GET", "allowed": False}
    record = {"allow": ["pypi.org"], "connections": [{**refused, "status": 403, "sent": 1}]}
    record["connections"][0]["received"] = 0
    checked = checked.model_copy(update={"network": NetworkRecord.model_validate(record)})
    routing = decide_route(RULES, prepared, checked, "success")
    assert routing.route == "needs_review" and "setup_network" in routing.reason
    assert "the egress proxy refused setup: 169.254.169.254:80" in routing.reason


def test_a_pass_whose_every_action_failed_is_not_a_pass() -> None:
    prepared, checked = evidence(failed_actions=(True, True, True))
    routing = decide_route(RULES, prepared, checked, "success")
    assert routing.route == "needs_review"
    assert "validator_evidence: 0 of the validator's 3 actions in the app worked" in routing.reason
    assert "its pass rests on nothing it saw" in routing.reason


MANUAL = Rules.model_validate({"auto_merge": {"enabled": False}})


@pytest.mark.parametrize(
    ("rules", "kwargs", "ci", "cited"),
    [
        (RULES, {}, "success", "auto_merge.min_score; every gate and journey passed"),
        (MANUAL, {}, "success", "auto_merge"),  # not min_score, review_band …
        (RULES, {}, "pending", "auto_merge.require_ci"),
        (RULES, {"score": 0.8}, "success", "review_band, auto_merge.min_score"),
        (RULES, {"score": 0.5}, "success", "max_fix_attempts; every gate must pass"),
        (RULES, {"results": ("pass", "not_observable")}, "success", "a criterion the validator "),
        (RULES, {"journeys_pass": False}, "success", "every hold-out journey must pass; "),
    ],
)
def test_the_validation_comment_cites_the_rule_that_decided(
    rules: Rules, kwargs: dict[str, Any], ci: str, cited: str
) -> None:
    from harness.engine.templates import Templates

    routing = decide_route(rules, *evidence(**kwargs), ci)
    body = Templates().render(
        "comments/validated.md.j2",
        **routing.model_dump(include={"route", "reason", "score", "verdict", "fix_attempts"}),
        rule=routing.rule,
        gates=[],
        pr=1,
        summary="",
        journeys=[],
        conflict=False,
        run_id="r-1",
    )
    (line,) = [x for x in body.splitlines() if x.startswith("Rule: ")]
    said = line.removeprefix("Rule: factory_rules.md — ")
    assert said == cited + "." or (cited.endswith(" ") and said.startswith(cited)), line
