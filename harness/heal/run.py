"""Production's health before a cycle works (``factory run``, ``factory health``), healed
when red: one heal per red commit (a killed one resumes; one a production that moved on
left is ended); a revert as its regression issue's change, under that issue's lease, and
while one waits for validation no heal starts; green again, heal's issues for a person are
closed."""

from __future__ import annotations

from typing import Required, TypedDict

from harness.artifacts import (
    ANY_RUN,
    Assignment,
    ChangeInputs,
    Diagnosis,
    Healed,
    HealInputs,
    Health,
    Landing,
    PrCandidate,
)
from harness.engine.context import Services
from harness.engine.runner import Engine, run_leased
from harness.errors import ForgeError
from harness.forge.base import Label, set_state
from harness.kinds import REVERT, is_revert
from harness.validate.calibration import green_now

HEALS = 1000  # the newest heals whose issues a green production may close
# where a regression issue ends without a fix: its reverted change goes to a person
ENDED = (Label.REJECTED, Label.FAILED, Label.NEEDS_HUMAN)


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


def production_health(services: Services, synced: bool = False) -> ProductionState:
    """The health workflow on production (no run when its tree was found green under this
    hold-out less than ``health.green_for_h`` hours ago, or there is no app to check, or it
    is being healed); heal when it is red.
    ``synced``: production was fetched already (one fetch a cycle): read where it is here."""
    settings, store = services.settings, services.store
    branch = settings.config.production_branch
    here = services.repo.rev_parse(f"refs/heads/{branch}") if synced else None
    sha = here or services.forge.sync(branch)
    if green_now(store, services.repo, settings, sha) or not settings.config.commands.start:
        _green_again(services, sha)
        return {"green": True}
    healing = store.find_open_run("heal", None)
    red: ProductionState = {"green": False, "reason": f"production {sha[:12]} is being healed"}
    under_way = healing and healing.inputs.get("sha") == sha  # or a revert: not checked again
    if not (under_way or store.open_runs("revert") or reverts_waiting(services)):
        outcome = Engine(services).run("health")
        if outcome.status == "succeeded":
            _green_again(services, sha)
            healthy = outcome.artifact(Health)
            if refused := healthy.network.refused() if healthy and healthy.network else []:
                said = f"production's setup asked for hosts the egress proxy refused: {refused}"
                return {"green": True, "run_id": outcome.run_id, "warning": said}
            return {"green": True, "run_id": outcome.run_id}
        reason = outcome.reason or "production failed its health check"
        red = {"green": False, "run_id": outcome.run_id, "reason": reason}
    try:
        return {**red, **heal(services, red.get("run_id"), sha)}
    except ForgeError as exc:  # a plan cannot file an issue: the cycle still stops
        return {**red, "tracking": str(exc)}


def heal(services: Services, health_run: str | None, sha: str) -> ProductionState:
    """What heal makes of red production ``sha`` (the health run that found it red; none
    when a heal under way resumes)."""
    store = services.store
    for run in store.open_runs("revert"):  # a revert killed on its way: finished first
        if run.issue is not None:
            run_leased(services, "revert", run.issue, None)
    if waiting := reverts_waiting(services):
        return {"green": False, "reverting": waiting[0], "outcome": "reverted"}
    stale = store.find_open_run("heal", None)
    if stale is not None and stale.inputs.get("sha") != sha:
        Engine(services).end(stale.id, f"production moved on to {sha[:12]}")
    elif stale is None and health_run is None:
        return {"green": False}  # nothing under way: the next check starts one
    for _, known in store.artifacts(Healed, None, limit=5):  # a person has it already
        person = known.person_issue if known.sha == sha else None
        if person and services.forge.get_issue(person).state == "open":
            return {"green": False, "outcome": known.outcome, "tracking": str(person)}
    given = HealInputs(health_run=health_run, sha=sha) if health_run else None  # None: resumed
    outcome = Engine(services).run("heal", None, given)
    healed = outcome.artifact(Healed)
    if healed is None:
        return {"green": False, "heal": outcome.run_id, "reason": f"heal: {outcome.reason}"}
    diagnosed = outcome.artifact(Diagnosis)  # green only where every check passed again
    again = diagnosed.again if diagnosed else None
    green = diagnosed is not None and diagnosed.verdict == "flaky" and not (again and again.failed)
    state: ProductionState = {"green": green, "heal": outcome.run_id}
    state["outcome"], state["reason"] = healed.outcome, healed.reason
    if healed.person_issue is not None:
        state["tracking"] = str(healed.person_issue)
    number = healed.regression_issue or 0  # a plan's new issue (< 0): its next health reverts
    if healed.outcome == "reverted" and number > 0 and healed.culprit:
        title = f"Revert {healed.culprit[:12]} (issue {healed.culprit_issue})"
        spec = Assignment(number=number, title=title, decision="accept", kind=REVERT)
        inputs = ChangeInputs(number=number, culprit=healed.culprit, spec=spec)
        if run_leased(services, "revert", number, inputs).artifact(PrCandidate):
            state["reverting"] = number
    return state


def reverts_waiting(services: Services) -> list[int]:
    """Regression issues whose revert waits for validation (a PR of kind ``revert``)."""
    store, issues = services.store, services.forge.list_issues("open")
    waiting = [i.number for i in issues if Label.NEEDS_REVIEW in i.labels]
    found = {n: store.latest_artifact(PrCandidate, n) for n in waiting}
    return [n for n, c in found.items() if c and is_revert(c.spec.kind)]


def _green_again(services: Services, sha: str) -> None:
    """The issues heal filed for a person about red production, closed with one comment; a
    reverted change's issue, closed as merged once its regression issue's fix landed (the
    comment names the fix), or handed to a person once that issue ended without one."""
    forge, render = services.forge, services.templates.render
    waiting = {i.number: i for i in forge.list_issues("open")}
    for _, healed in services.store.artifacts(Healed, None, ANY_RUN, limit=HEALS):
        if (number := healed.person_issue) in waiting:
            body = render("comments/health_green.md.j2", sha=sha)
            forge.post_comment(number, f"health:green:{sha}", body)
            forge.close_issue(number)
            del waiting[number]
        fixed, back = healed.regression_issue, waiting.get(healed.culprit_issue or 0)
        if fixed is None or back is None:
            continue
        regression = forge.get_issue(fixed)
        ended = [label for label in ENDED if label in regression.labels]
        if Label.MERGED in regression.labels:
            landed = services.store.latest_artifact(Landing, fixed)
            said = render("comments/heal_back.md.j2", fixed=fixed, landed=landed)
            forge.post_comment(back.number, f"heal:back:{fixed}", said)
            set_state(forge, back.number, Label.MERGED, (Label.REGRESSION,))
            forge.close_issue(back.number)
        elif Label.IN_PROGRESS in back.labels and (regression.state == "closed" or ended):
            said = render("comments/heal_stuck.md.j2", fixed=fixed, ended=[*ended, "closed"][0])
            forge.post_comment(back.number, f"heal:stuck:{fixed}", said)
            set_state(forge, back.number, Label.NEEDS_HUMAN, (Label.REGRESSION,))
        else:
            continue
        del waiting[back.number]
