"""``factory run``: one cycle — the ``cycle`` workflow (``workflows/cycle.yaml``): triage,
production's health (healed when red), implement and validate K at a time, merge — and its
rows, read from the cycle's records by type."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Required, TypedDict

from harness.artifacts import (
    CheckResult,
    Children,
    CycleInputs,
    Landing,
    PrCandidate,
    Production,
    ProductionInputs,
    Queue,
    Ran,
    Smoke,
    Validation,
    ValidationTarget,
)
from harness.engine.actions import action
from harness.engine.context import Services, StepContext
from harness.engine.records import RunRecords
from harness.engine.runner import Engine, RunOutcome, recorded
from harness.errors import FactoryError, StoppedError
from harness.forge.base import Label, Queued
from harness.git.worktrees import WorktreeManager
from harness.heal.production import reverts_waiting
from harness.implement.run import waits_for_approval
from harness.model.provider import require_model
from harness.review.trust import approvals
from harness.sandbox.shared import shared
from harness.services import open_services
from harness.store.outcomes import outcome_word
from harness.triage.queue import Deferred, TriageRow, deferred_waiting, triage_row, untriaged

Progress = Callable[[str], None]


class StageRow(TypedDict, total=False):
    """One issue in one stage of a cycle, as ``factory run --json`` prints it (a refused one
    has only the first four keys)."""

    stage: Required[str]
    issue: Required[int]
    status: Required[str]
    reason: Required[str | None]
    run_id: str
    pr: int | None
    route: str | None
    merge_sha: str | None
    reverted: str | None


class CycleResult(TypedDict, total=False):
    """A cycle's rows per stage (``factory run --json``); ``production`` when it was red or
    healed (a ``Production``), ``busy`` when another run held the state, ``ended``: issues no
    longer open whose unfinished runs it ended instead of resuming them."""

    triage: Required[list[TriageRow]]
    implement: Required[list[StageRow]]
    validate: Required[list[StageRow]]
    production: dict[str, object]
    busy: str
    ended: list[int]
    deferred: Deferred  # issues the daily author limit defers
    waiting: list[int]  # issues of the cycle that now wait for a person (review or decision)
    held: list[int]  # an idle cycle: the open issues that wait for a person


def needs_validation(services: Services, number: int) -> bool:
    """A PR waits for validation unless a finished validation already judged this very PR at
    this very head (a PR opened again after a retry is validated again, even when a person's
    retry left its commit unchanged) and no person approved that head since: an approval
    whose validation was interrupted (killed with the dashboard that ran it) is finished."""
    store = services.store
    finished = ("succeeded", "failed")
    pr = store.latest_artifact(PrCandidate, number)
    if pr is None:
        return False
    for run, target in store.artifacts(ValidationTarget, number, run_status=finished):
        if (target.implement_run, target.head) == (pr.implement_run, pr.head):
            ended = store.get_run(run).finished_at or ""
            return any(e.ts > ended for e in approvals(store, number, pr.head))
    return True


def ready_to_implement(services: Services) -> list[int]:
    """Accepted open issues the factory has not finished with (and that need no approval); an
    implement run left unfinished is the engine's to take up, whatever the labels say."""
    done = {Label.NEEDS_REVIEW, Label.FAILED, Label.NEEDS_HUMAN}
    issues = (  # on the local forge each issue's state is kept by the store: read by index
        services.store.ready_issues()
        if services.forge.kind == "local"
        else [Queued(i.number, i.author, i.labels) for i in services.forge.list_issues("open")]
    )
    return [
        i.number
        for i in issues
        if Label.ACCEPTED in i.labels
        and not done & set(i.labels)
        and not waits_for_approval(services, i)
    ]


def refusal_reason(decided: Validation, checked: CheckResult | None) -> str:
    """Why a validation did not merge: the route's reason, each failed gate with its
    evidence (unless the reason says it already), each failed journey (its name and step as
    written: for the maintainer's own table)."""
    journeys = [j for j in checked.journeys if not j.passed] if checked else []
    gates = [f"{g.name}: {g.evidence}" for g in decided.gates if not g.passed]
    return "; ".join(
        ([decided.reason] if decided.reason else [])
        + [gate for gate in gates if gate not in decided.reason]
        + [f"journey '{j.name}' failed at {j.failed_at}" for j in journeys]
    )


def stage_row(stage: str, number: int, outcome: RunOutcome | None, error: str | None) -> StageRow:
    if outcome is None:
        return {"stage": stage, "issue": number, "status": "refused", "reason": error}
    decided = outcome.artifact(Validation)
    reason = outcome.reason
    if decided is not None:
        checked = outcome.artifact(CheckResult)
        reason = decided.reason if decided.route == "merge" else refusal_reason(decided, checked)
    candidate = outcome.artifact(PrCandidate)
    target = outcome.artifact(ValidationTarget)
    landing = outcome.artifact(Landing)
    smoke = outcome.artifact(Smoke)
    return {
        "stage": stage,
        "issue": number,
        "status": outcome.status,
        "reason": reason,
        "run_id": outcome.run_id,
        "pr": candidate.pr if candidate else target.pr if target else None,
        "route": decided.route if decided else None,
        "merge_sha": landing.merge_sha if landing else None,
        "reverted": smoke.reverted if smoke else None,
    }


def outcome_of(row: StageRow) -> str | None:
    """What happened to one issue in one stage (``outcome_word``, the one rule)."""
    return outcome_word(
        row["stage"],
        row["status"],
        pr=bool(row.get("pr")),
        route=row.get("route"),
        landed=bool(row.get("merge_sha")),
        reverted=bool(row.get("reverted")),
    )


WAITING_EXIT = 3  # ``factory run --fail-on-waiting``: an issue now waits for a person


def cycle_exit(result: CycleResult, fail_on_waiting: bool) -> int:
    """``factory run``'s exit code (docs/user-guide.md, "Exit codes"), whatever became of the
    issues: 1 when the cycle could not do its work — production red (nothing was built on
    it), a run stopped (the kill switch, a budget, the provider asking to wait) or a stage
    that could not start for an issue; with ``fail_on_waiting``, ``WAITING_EXIT`` when an
    issue now waits for a person; else 0."""
    rows = [*result["triage"], *result["implement"], *result["validate"]]
    if not result.get("production", {"green": True})["green"] or any(
        row["status"] in ("stopped", "refused") for row in rows
    ):
        return 1
    return WAITING_EXIT if fail_on_waiting and result.get("waiting") else 0


def _for_a_person(services: Services, result: CycleResult) -> CycleResult:
    """``result`` with the issues it worked on that now wait for a person; an idle cycle's,
    with every open issue that waits for one (``held``)."""
    rows = [*result["triage"], *result["implement"], *result["validate"]]
    held = {Label.NEEDS_REVIEW, Label.NEEDS_HUMAN}
    worked = sorted({row["issue"] for row in rows})
    issues = [services.forge.get_issue(n) for n in worked] or services.forge.list_issues("open")
    waiting = [i.number for i in issues if held & set(i.labels)]
    if not waiting:
        return result
    return {**result, "waiting": waiting} if worked else {**result, "held": waiting}


def _green(services: Services, production: Ran) -> bool:
    """Whether the cycle's production run found production green (or healed it)."""
    state = RunRecords(services.store.steps(production.run_id)).newest(Production)
    return state is not None and state.green


@action("cycle.tip")
def tip(ctx: StepContext) -> ProductionInputs:
    """Production's commit, as the cycle fetched it when it began: the one it checks."""
    branch = ctx.services.settings.config.production_branch
    return ProductionInputs(sha=str(ctx.services.repo.rev_parse(f"refs/heads/{branch}")))


@action("cycle.ready")
def ready(ctx: StepContext, inputs: CycleInputs, production: Ran) -> Queue:
    """What the cycle implements, K at a time: nothing is built on red production."""
    services = ctx.services
    numbers = ready_to_implement(services) if _green(services, production) else []
    return Queue(issues=numbers, width=inputs.max_parallel or services.settings.config.max_parallel)


@action("cycle.waiting")
def waiting(ctx: StepContext, inputs: CycleInputs, production: Ran) -> Queue:
    """What the cycle validates, K at a time: the pull requests waiting for it; on red
    production, only the revert heal opened."""
    services = ctx.services
    numbers = (
        [
            i.number
            for i in services.forge.list_issues("open")
            if Label.NEEDS_REVIEW in i.labels and needs_validation(services, i.number)
        ]
        if _green(services, production)
        else reverts_waiting(services)
    )
    return Queue(issues=numbers, width=inputs.max_parallel or services.settings.config.max_parallel)


@shared()  # one egress proxy and one warm analyser for every issue of the cycle
def run_cycle(
    root: Path,
    state: Path,
    provider: str | None,
    max_parallel: int | None,
    progress: Progress,
    plan: Path | None = None,
) -> CycleResult:
    # production synced first: the governance as production has it now
    services = open_services(root, state, provider, plan=plan, sync=True)
    services.progress = progress
    WorktreeManager.of(services.repo, services.settings.state_dir).prune()  # killed runs' leftovers
    if untriaged(services) or ready_to_implement(services):  # an idle cycle asks no model
        require_model(services.settings, provider)
    try:  # what the cycle's rows read of the forge is read before its last read (settle)
        outcome = Engine(services).run("cycle", inputs=CycleInputs(max_parallel=max_parallel))
        if outcome.status == "stopped":  # the kill switch, this process's Ctrl-C
            raise StoppedError(str(outcome.reason))
        if outcome.status != "succeeded":
            raise FactoryError(f"the cycle {outcome.run_id} failed: {outcome.reason}")
        result: CycleResult = {"triage": [], "implement": [], "validate": []}
        _rows(services, outcome.run_id, result)
        if waiting := deferred_waiting(services):
            result["deferred"] = waiting
        return _for_a_person(services, result)
    finally:
        services.forge.settle()


def _rows(services: Services, run_id: str, result: CycleResult) -> None:
    """The rows of the runs ``run_id``'s ``workflow:`` steps ran (and theirs'), in order;
    production's state when it was red, healed or warned; the issues whose unfinished runs
    were ended."""
    store = services.store
    for _, made in RunRecords(store.steps(run_id)).found:
        if isinstance(made, Ran) and made.run_id:
            _rows(services, made.run_id, result)
        elif isinstance(made, Production) and (not made.green or made.heal or made.warning):
            result["production"] = made.model_dump(exclude_none=True)
        elif isinstance(made, Children):
            for ran in made.runs:
                outcome = recorded(store, ran.run_id) if ran.run_id else None
                if ran.workflow == "triage":
                    result["triage"].append(triage_row(ran, outcome))
                elif ran.workflow in ("implement", "validate"):
                    rows = result["implement" if ran.workflow == "implement" else "validate"]
                    rows.append(stage_row(ran.workflow, ran.issue or 0, outcome, ran.reason))
            if made.ended:
                result["ended"] = sorted({*result.get("ended", []), *made.ended})
