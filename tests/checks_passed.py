"""Records saying the checks a landing waits for passed — the journeys on production and on
the candidate, the tests, the sealed validator (every criterion of the spec judged pass on
what it saw), the smoke run after the merge —, put in the action table in their place
(``use_actions(monkeypatch, *CHECKS_PASSED)``), for a test whose subject is not those checks:
the merge queue, its tested-tree check, the route and the merge are the factory's own. Each
says what the real check would have said of a change that keeps production working."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from harness.artifacts import (
    Baseline,
    CheckResult,
    CriterionResult,
    Prepared,
    Smoke,
    Tested,
    ValidatorRun,
    Verdict,
)
from harness.artifacts.browser import JourneyResult, Observation
from harness.engine.actions import action
from harness.engine.context import StepContext
from harness.validate.sealed import ValidatorQuestion


@action("validate.baseline")
def calibrated(ctx: StepContext) -> Baseline:
    sha = ctx.services.forge.sync("main")
    tree = str(ctx.services.repo.tree_of(sha))
    return Baseline(sha=sha, tree=tree, journeys=[], journeys_passed=True, production_sha=sha)


@action("validate.check")
def checked(ctx: StepContext, prepare: Prepared) -> CheckResult:
    prepared = prepare
    repo = ctx.services.repo
    production = ctx.services.forge.sync("main")
    candidate = repo.merge_commit(production, prepared.head, "Candidate")
    tree = str(repo.tree_of(candidate))
    criteria = prepared.candidate.spec.acceptance_criteria
    return CheckResult(
        sha=candidate,
        tree=tree,
        journeys=[],
        journeys_passed=True,
        tests=Tested(command="python3 -m unittest -q", exit_code=0, tree=tree),
        # no criteria (a revert's): no validator judges it
        validator=validator_passed(criteria) if criteria else None,
        production_sha=production,
        head=prepared.head,
    )


SHOWN = "the change works as the criterion asks"


def validator_passed(criteria: list[str]) -> ValidatorRun:
    """The sealed validator's run that judged each of ``criteria`` (C1, ...) pass on what it
    saw: a snapshot of its own for each, made where the criterion points (the first path it
    names), whose text the pass quotes."""
    places = [re.search(r"(?<![\w.:/])/[\w\-./]*\w", text) for text in criteria]
    return ValidatorRun(
        output=Verdict(
            verdict="pass",
            score=1.0,
            criteria=[
                CriterionResult(criterion=f"C{n}", result="pass", observations=[n], quote=SHOWN)
                for n, _ in enumerate(criteria, 1)
            ],
        ),
        observed=[
            Observation(
                tool="browser_snapshot",
                input={},
                seen="the notes",
                number=n,
                excerpt=f"- text: {SHOWN}",
                at=place[0] if place else "/",
            )
            for n, place in enumerate(places, 1)
        ],
    )


def passed_as_asked(at: Any, question: ValidatorQuestion, earlier: Any) -> ValidatorRun:
    """In place of a check's sealed validator (``evidence._validator_check``): its verdict
    passed (``validator_passed``), for the question it was asked, an app and a browser for none."""
    return validator_passed(question.criteria).model_copy(update={"asked": question.digest()})


def taught_checks_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """The learned checks a stood-in verdict teaches (``validator_passed``: its quote,
    ``SHOWN``, is on no page of any app) fail each try beside the smoke run, as their replay
    in a browser would (``replay``: the home page opened, the snapshot taken, the quote not
    in it), a browser for none; every other hold-out check runs as it would."""
    from harness.browser.journeys import Learned
    from harness.validate import evidence

    real = evidence._journey_check

    def journey(at: Any, number: int, group: list[Any]) -> tuple[int, list[JourneyResult]]:
        if not group or not all(isinstance(c, Learned) and c.quote == SHOWN for c in group):
            return real(at, number, group)
        return 0, [  # each action done, the quote not in what the last one showed
            JourneyResult(
                c.name,
                False,
                len(c.actions),
                len(c.actions),
                c.quote,
                "the notes",
                failed_as=json.dumps(c.actions),
            )
            for c in group
        ]

    monkeypatch.setattr(evidence, "_journey_check", journey)


def verdicts_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every sealed validator's verdict stands in as passed (``passed_as_asked``): for a test
    that reads nothing of it, whose tests and journeys beside it run for real."""
    from harness.validate import evidence

    monkeypatch.setattr(evidence, "_validator_check", passed_as_asked)


@action("validate.smoke")
def smoked(ctx: StepContext) -> Smoke:
    merged = ctx.services.forge.sync("main")
    tree = str(ctx.services.repo.tree_of(merged))
    return Smoke(sha=merged, tree=tree, journeys=[], journeys_passed=True)


CHECKS_PASSED = (calibrated, checked, smoked)


def analysers_find_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The security gate's analysers stand in as having found nothing in the change, none of
    them started in a sandboxed interpreter (nor warmed up while a cycle's suite runs): for a
    scenario whose subject is another gate or step (the implement tests ask for it through
    their fixture ``analysers_quiet``). The gate itself runs, and says what it says
    of a change that adds no finding; the analysers run for real in
    ``tests/implement/test_security_gate.py`` and in the end-to-end cycles."""
    from harness.artifacts import Analysed
    from harness.implement import actions, security

    monkeypatch.setattr(security, "run_analysers", lambda *args, **kwargs: Analysed(findings=[]))
    monkeypatch.setattr(actions, "warm_up", lambda settings: None)
