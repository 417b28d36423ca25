"""Production's health, and the heal when it is red: what ``factory run`` checks before it
works and ``factory health`` runs on demand.

Red production starts the heal workflow once per red commit (a run killed in it resumes;
one left by a production that moved on is ended). A heal that reverts opens the revert as
the regression issue's change (the revert workflow, under that issue's lease); validation
lands it through the merge queue like any change. While a revert is in flight no heal
starts: one revert at a time. Green again, the issues heal filed for a person about red
production are closed."""

from __future__ import annotations

from typing import Required, TypedDict

from harness.artifacts import Healed, Health, IssueSpec, PrCandidate
from harness.engine.context import Lease, Services
from harness.engine.runner import Engine, RunOutcome
from harness.errors import ForgeError
from harness.forge.base import Label
from harness.implement.run import LEASE_TTL_S, holder_id, holder_is_gone
from harness.validate.calibration import health_key

EVERY = ("succeeded", "failed", "running", "stopped")


class ProductionState(TypedDict, total=False):
    """Production's health before a cycle works; when red, what heal made of it: its run,
    its ``outcome``, the issue a person reads (``tracking``) or the regression issue whose
    revert is in the merge queue (``reverting``)."""

    green: Required[bool]
    run_id: str
    reason: str
    heal: str
    outcome: str
    tracking: str
    reverting: int
    warning: str  # green, but its setup asked for hosts the egress proxy refused


def production_health(services: Services) -> ProductionState:
    """The health workflow on production (no run when its tree is known green under this
    hold-out, or there is no app to check); the heal workflow when it is red."""
    settings = services.settings
    sha = services.forge.sync(settings.config.production_branch)
    known = services.store.get_flag(health_key(services.repo, sha, settings.holdout_dir))
    if known or not settings.config.commands.start:
        _green_again(services, sha)
        return {"green": True}
    outcome = Engine(services).run("health")
    if outcome.status == "succeeded":
        _green_again(services, sha)
        healthy = outcome.artifact(Health)
        if refused := healthy.network.refused() if healthy and healthy.network else []:
            said = f"production's setup asked for hosts the egress proxy refused: {refused}"
            return {"green": True, "run_id": outcome.run_id, "warning": said}
        return {"green": True, "run_id": outcome.run_id}
    reason = outcome.reason or "production failed its health check"
    state: ProductionState = {"green": False, "run_id": outcome.run_id, "reason": reason}
    try:
        return {**state, **heal(services, outcome)}
    except ForgeError as exc:  # a plan cannot file an issue: the cycle still stops
        return {**state, "tracking": str(exc)}


def heal(services: Services, red: RunOutcome) -> ProductionState:
    """What heal makes of the red health run ``red`` (see the module's description)."""
    store = services.store
    for run in store.open_runs("revert"):  # a revert killed on its way: finished first
        if run.issue is not None:
            _revert(services, run.issue, {})
    if waiting := reverts_waiting(services):
        return {"green": False, "reverting": waiting[0], "outcome": "reverted"}
    sha = services.forge.sync(services.settings.config.production_branch)
    stale = store.find_open_run("heal", None)
    if stale is not None and stale.inputs.get("sha") != sha:
        Engine(services).end(stale.id, f"production moved on to {sha[:12]}")
    for _, known in store.artifacts(Healed, None, limit=5):  # a person has it already
        person = known.person_issue if known.sha == sha else None
        if person and services.forge.get_issue(person).state == "open":
            return {"green": False, "outcome": known.outcome, "tracking": str(person)}
    outcome = Engine(services).run("heal", None, {"health_run": red.run_id, "sha": sha})
    healed = outcome.artifact(Healed)
    if healed is None:
        return {"green": False, "heal": outcome.run_id, "reason": f"heal: {outcome.reason}"}
    state: ProductionState = {"green": healed.outcome == "flaky", "heal": outcome.run_id}
    state["outcome"], state["reason"] = healed.outcome, healed.reason
    if healed.person_issue is not None:
        state["tracking"] = str(healed.person_issue)
    if healed.outcome == "reverted" and healed.regression_issue and healed.culprit:
        spec = _revert_spec(healed).model_dump(mode="json")
        _revert(services, healed.regression_issue, {"culprit": healed.culprit, "spec": spec})
        if waiting := reverts_waiting(services):
            state["reverting"] = waiting[0]
    return state


def _revert_spec(healed: Healed) -> IssueSpec:
    """What the revert change is, for implement's steps and the validation after them."""
    return IssueSpec(
        number=int(str(healed.regression_issue)),
        title=f"Revert {str(healed.culprit)[:12]} (issue {healed.culprit_issue})",
        body=healed.reason,
        decision="accept",
        kind="revert",
        priority="p1",
        acceptance_criteria=["The tests and every hidden user journey pass without it."],
        source="heal",
    )


def _revert(services: Services, number: int, inputs: dict[str, object]) -> RunOutcome:
    """The revert workflow for regression issue ``number``, under its lease."""
    holder, store = holder_id(), services.store
    fence = store.acquire_lease(number, holder, LEASE_TTL_S, is_stale=holder_is_gone)
    try:
        engine = Engine(services, Lease(number, holder, fence))
        return engine.run("revert", number, {"number": number, **inputs})
    finally:
        store.release_lease(number, holder)


def reverts_waiting(services: Services) -> list[int]:
    """Regression issues whose revert waits for validation (a PR of kind ``revert``)."""
    waiting = []
    for issue in services.forge.list_issues("open"):
        if Label.NEEDS_REVIEW in issue.labels:
            candidate = services.store.latest_artifact(PrCandidate, issue.number)
            if candidate is not None and candidate.spec.kind == "revert":
                waiting.append(issue.number)
    return waiting


def _green_again(services: Services, sha: str) -> None:
    """The issues heal filed for a person about red production, closed with one comment."""
    forge = services.forge
    for _, healed in services.store.artifacts(Healed, None, EVERY, limit=20):
        number = healed.person_issue
        if number is None or healed.outcome == "reverted":
            continue
        if forge.get_issue(number).state == "open":
            body = services.templates.render("comments/health_green.md.j2", sha=sha)
            forge.post_comment(number, f"health:green:{sha}", body)
            forge.close_issue(number)
