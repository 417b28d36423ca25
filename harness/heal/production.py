"""Production's health before a cycle works (``factory run``, ``factory health``), healed
when red: the ``production`` workflow (``workflows/production.yaml``) and its actions. A
revert killed on its way is finished first; while one waits for validation no heal starts;
one heal per red commit; a revert runs as its regression issue's change; green again, heal's
issues for a person are closed."""

from __future__ import annotations

from harness.artifacts import (
    ANY_RUN,
    Assignment,
    ChangeInputs,
    Diagnosis,
    Healed,
    HealInputs,
    Health,
    Landing,
    Look,
    PrCandidate,
    Production,
    ProductionInputs,
    Ran,
)
from harness.engine.actions import action
from harness.engine.context import Services, StepContext
from harness.engine.records import RunRecords
from harness.engine.runner import Engine
from harness.forge.base import Label, filed_issues, set_state
from harness.implement.spec import reverted_change
from harness.kinds import REVERT, is_revert, regression_key
from harness.validate.calibration import calibration_key, green_now

HEALS = 1000  # the newest heals whose issues a green production may close
# where a regression issue ends without a fix: its reverted change goes to a person
ENDED = (Label.REJECTED, Label.FAILED, Label.NEEDS_HUMAN)


def production_health(services: Services, culprit: str | None = None) -> Production:
    """The production workflow on production's commit, fetched first (``culprit``: see
    ``ProductionInputs``)."""
    branch = services.settings.config.production_branch
    sha = services.forge.sync(branch)
    outcome = Engine(services).run("production", inputs=ProductionInputs(sha=sha, culprit=culprit))
    return outcome.artifact(Production) or Production(green=False, reason=outcome.reason)


def _records(services: Services, child: Ran | None) -> RunRecords:
    """What the child run ``child`` recorded, read by type."""
    return RunRecords(services.store.steps(child.run_id) if child and child.run_id else [])


@action("heal.look")
def look(ctx: StepContext, inputs: ProductionInputs) -> Look:
    """Whether production's health is checked now: not while its tree is known green under
    this hold-out (``health.green_for_h``) or there is no app to check, nor while heal's
    revert waits for validation (no heal starts then), nor when the revert of an earlier
    heal's culprit is asked for."""
    services, settings = ctx.services, ctx.services.settings
    key = calibration_key(services.repo, inputs.sha, settings.holdout_dir, "health")
    if not settings.config.commands.start or green_now(services.store, settings, key):
        return Look(check=False, green=True)
    waiting = reverts_waiting(services)
    return Look(check=not waiting and not inputs.culprit, reverting=waiting[0] if waiting else None)


@action("heal.red")
def red(ctx: StepContext, inputs: ProductionInputs, health: Ran | None) -> HealInputs | None:
    """What heal starts from: the health run that found this commit red, unless a person has
    the commit already."""
    if health is None or health.status != "failed" or _tracked(ctx.services, inputs.sha):
        return None
    return HealInputs(health_run=health.run_id, sha=inputs.sha)


@action("heal.change")
def change(ctx: StepContext, inputs: ProductionInputs, heal: Ran | None) -> ChangeInputs | None:
    """The revert heal decided (or, ``inputs.culprit``, an earlier heal), as the change of
    the regression issue heal filed for its culprit, found by the forge's record (the
    factory's own issue, its signed key and change block): not while that issue is a plan's
    (number below 0) — GitHub's heal job reverts once it is filed — nor once it is closed or
    ended (``ENDED``: a person's, or its revert failed; ``factory health --revert`` asked
    later, by hand)."""
    healed = _records(ctx.services, heal).newest(Healed)
    culprit = healed.culprit if healed and healed.outcome == "reverted" else inputs.culprit
    forge = ctx.services.forge
    issue = filed_issues(forge).get(regression_key(culprit)) if culprit else None
    change = reverted_change(forge, issue) if issue and issue.number > 0 else None
    if change is None or issue is None or issue.state != "open" or set(ENDED) & set(issue.labels):
        return None
    title = f"Revert {str(culprit)[:12]} (issue {change.issue})"
    spec = Assignment(number=issue.number, title=title, decision="accept", kind=REVERT)
    return ChangeInputs(number=issue.number, culprit=culprit, spec=spec)


@action("heal.state")
def state(
    ctx: StepContext,
    inputs: ProductionInputs,
    look: Look,
    health: Ran | None,
    heal: Ran | None,
    revert: Ran | None,
) -> Production:
    """Production's health as a cycle and ``factory health`` report it; green (again), the
    issues heal filed for a person are closed."""
    services, sha = ctx.services, inputs.sha
    checked = health.run_id if health else None
    if look.green or (health is not None and health.status == "succeeded"):
        _green_again(services, sha)
        kept = _records(services, health).newest(Health)
        refused = kept.network.refused() if kept and kept.network else []
        said = f"production's setup asked for hosts the egress proxy refused: {refused}"
        return Production(green=True, run_id=checked, warning=said if refused else None)
    why = health.reason if health else f"production {sha[:12]} is being healed"
    red = Production(green=False, run_id=checked, reason=why)
    made = revert.issue if revert and _records(services, revert).newest(PrCandidate) else None
    reverting = look.reverting or made
    if heal is None:  # a revert waits or was started, a person has this commit, or nothing was
        if reverting:
            return red.evolve(reverting=reverting, outcome="reverted")
        tracked = _tracked(services, sha)
        if tracked is None:
            return red
        return red.evolve(outcome=tracked.outcome, tracking=str(tracked.person_issue))
    records = _records(services, heal)
    healed = records.newest(Healed)
    if healed is None:
        return red.evolve(heal=heal.run_id, reason=f"heal: {heal.reason}")
    diagnosed = records.newest(Diagnosis)  # green only where every check passed again
    again = diagnosed.again if diagnosed else None
    green = diagnosed is not None and diagnosed.verdict == "flaky" and not (again and again.failed)
    return Production(
        green=green,
        run_id=checked,
        reason=healed.reason,
        heal=heal.run_id,
        outcome=healed.outcome,
        tracking=str(healed.person_issue) if healed.person_issue is not None else None,
        reverting=reverting,
        culprit=healed.culprit,
    )


def _tracked(services: Services, sha: str) -> Healed | None:
    """The heal of red ``sha`` whose issue for a person is still open: a person has it."""
    for _, known in services.store.artifacts(Healed, None, limit=5):
        person = known.person_issue if known.sha == sha else None
        if person and services.forge.get_issue(person).state == "open":
            return known
    return None


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
            forge.set_issue_state(number, "closed")
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
            forge.set_issue_state(back.number, "closed")
        elif Label.IN_PROGRESS in back.labels and (regression.state == "closed" or ended):
            said = render("comments/heal_stuck.md.j2", fixed=fixed, ended=[*ended, "closed"][0])
            forge.post_comment(back.number, f"heal:stuck:{fixed}", said)
            set_state(forge, back.number, Label.NEEDS_HUMAN, (Label.REGRESSION,))
        else:
            continue
        del waiting[back.number]
