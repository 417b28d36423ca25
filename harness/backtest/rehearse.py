"""One case through the factory's own workflows, in its scratch place, and what became of it:
by the entry points ``factory run`` uses, in the order a cycle takes them (docs/backtest.md,
"The same workflows"), read back by type, never by a step's id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from harness.artifacts import CheckResult, IssueSpec, PrCandidate, Routing, Validation
from harness.cycle import needs_validation, ready_to_implement
from harness.engine.context import Services
from harness.engine.records import RunRecords
from harness.engine.runner import RunOutcome
from harness.errors import ErrorKind
from harness.forge.base import Label
from harness.implement.run import implement_issue, waits_for_approval
from harness.store.db import Store
from harness.store.records import Run
from harness.triage.queue import triage_all
from harness.validate.route import decide_route
from harness.validate.run import validate_issue
from harness.validate.suite import suite_runs

# before a stage (its name): raises when the factory's kill switch or a budget says stop
Gate = Callable[[str], None]


def _waiting(services: Services, number: int) -> bool:
    issue = services.forge.get_issue(number)
    return (
        issue.state == "open"
        and Label.NEEDS_REVIEW in issue.labels
        and needs_validation(services, number)
    )


def _stopped(services: Services, run: Callable[[], RunOutcome]) -> bool:
    """Whether ``run`` stopped (the kill switch, the provider asking to wait); a run the
    environment left inconclusive is due again at once: taken up until it is decided."""
    while (outcome := run()).status == "stopped":
        if outcome.not_before is None or outcome.not_before > services.clock():
            return True
    return False


def rehearse(services: Services, number: int, gate: Gate) -> bool:
    """Triage, implement and validate issue ``number`` until the factory would have nothing
    more to do for it (``gate`` before each stage); True when no run of it is left open (a
    run the kill switch stopped, or one deferred by the provider, is taken up again on the
    next backtest)."""
    stopped = False
    for _ in range(services.settings.governance.rules.max_fix_attempts + 2):
        gate("triage")
        stopped = any(row["status"] in ("stopped", "deferred") for row in triage_all(services))
        if number in ready_to_implement(services):
            gate("implement")
            stopped |= _stopped(services, lambda: implement_issue(services, number))
        if stopped or not _waiting(services, number):
            break
        gate("validate")
        stopped = _stopped(services, lambda: validate_issue(services, number, rehearsal=True))
        validation = services.store.latest_artifact(Validation, number)
        if validation is None or validation.route != "retry":
            break
    return not stopped


# what failed when a run of a case ended on one of these: the factory's own machinery (the
# model's service, the forge, the sandbox, git, its configuration or the harness) or the
# environment (inconclusive to the end), not the work — an agent that did not finish
# (``agent``) or a gate that said no is a result
BROKE = (
    ErrorKind.MODEL,
    ErrorKind.QUOTA,
    ErrorKind.FORGE,
    ErrorKind.SANDBOX,
    ErrorKind.INCONCLUSIVE,
    ErrorKind.GIT,
    ErrorKind.CONFIG,
    ErrorKind.INTERNAL,
)


class Judged(BaseModel):
    """The sealed validator's verdict on a case's change, and its score (a row's
    ``validator``)."""

    model_config = ConfigDict(frozen=True)

    verdict: str
    score: float


@dataclass(frozen=True)
class Became:
    """What the factory did with a case: triage's decision (and kind), the route validation
    took — ``route`` as its gates decided it, ``trust_held`` when earned trust, not yet
    earned in a rehearsal, made it wait for a person instead —, the validator's verdict and
    the head of the change it would have landed."""

    triage: str | None
    kind: str | None
    route: str | None
    trust_held: bool
    reason: str
    validator: Judged | None
    head: str | None
    suite_runs: int = 0  # the whole suite, in the case's runs (grading aside)
    inconclusive: bool = False  # its time limit stopped the suite twice
    broke: str | None = None  # the failure of the factory's own machinery that ended a run


def _gates_routing(services: Services, validation: Validation, number: int) -> Routing:
    """The route the gates decided (``decide_route`` again, on the same records), before the
    person in the loop: in a rehearsal nobody approves, and no kind has earned trust."""
    store = services.store
    checked = store.latest_artifact(CheckResult, number)
    run = validation.implement_run
    candidate = next(
        (c for _, c in store.artifacts(PrCandidate, number) if c.implement_run == run), None
    )
    if checked is None or candidate is None:
        return validation
    rules = services.settings.governance.rules
    return decide_route(rules, candidate, checked, services.forge.ci_status(checked.head))


def what_became(services: Services, number: int) -> Became:
    store = services.store
    forge = services.forge
    spec = store.latest_artifact(IssueSpec, number)
    candidate = store.latest_artifact(PrCandidate, number)
    validation = store.latest_artifact(Validation, number)
    runs = store.list_runs(None, issue=number)
    newest = runs[:1]
    reason = (newest[0].reason if newest else None) or (spec.reason if spec else None) or ""
    route = None
    held = False
    verdict = None
    accepted = spec is not None and spec.decision == "accept"
    if accepted and candidate is None and waits_for_approval(services, forge.get_issue(number)):
        reason = (
            f"accepted; not implemented: it waits for a maintainer's {Label.APPROVED} "
            "label (triage.untrusted_requires_label)"
        )
    if validation is not None:
        routing = _gates_routing(services, validation, number)
        route = routing.route
        reason = routing.reason
        held = route == "merge" and validation.route == "needs_review"
        if held:
            reason = f"{reason}; a person would review it: {validation.reason}"
        if validation.validator is not None:
            verdict = Judged.model_validate(validation.validator, from_attributes=True)
    return Became(
        triage=spec.decision if spec else None,
        kind=spec.kind if spec else None,
        route=route,
        trust_held=held,
        reason=reason,
        validator=verdict,
        head=candidate.head if candidate else None,
        suite_runs=suite_runs(store, number)[0],
        inconclusive=any(
            t.again and t.limit_hit == "time"
            for r in runs
            for t in RunRecords(store.steps(r.id)).tested()
        ),
        broke=_broke(store, runs),
    )


def _broke(store: Store, runs: list[Run]) -> str | None:
    """Why a run of the case ended on a failure of the factory's own machinery (``BROKE``)."""
    for run in runs:
        failed = [s for s in store.steps(run.id) if s.status == "failed"][-1:]
        for step in failed if run.status == "failed" else []:
            if step.error_kind in BROKE:
                where = f"its {run.workflow} run failed at step {step.step_id}"
                return f"{where} ({step.error_kind}): {step.error}"
    return None
