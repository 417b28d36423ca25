"""``factory run``: one full cycle — triage, implement in parallel, validate, merge."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Required, TypedDict

from harness import cpu
from harness.artifacts import (
    CheckResult,
    Landing,
    PrCandidate,
    Smoke,
    Validation,
    ValidationTarget,
)
from harness.config.settings import Settings
from harness.engine.context import Services
from harness.engine.runner import LEASE_TTL_S, RunOutcome, check_kill_switch, end_unfinished
from harness.errors import FactoryError, LeaseError
from harness.forge.base import Label, Queued
from harness.git.worktrees import WorktreeManager
from harness.heal.run import ProductionState, reverts_waiting
from harness.heal.run import production_health as production_health  # benchmarks read it here
from harness.implement.run import implement_issue, waits_for_approval
from harness.model.provider import require_model
from harness.review.trust import approvals
from harness.sandbox.shared import shared
from harness.services import open_services
from harness.store.db import Store
from harness.store.outcomes import outcome_word, shown
from harness.triage.queue import deferred_waiting, triage_all, untriaged
from harness.validate.run import unfinished_after_merge, validate_issue

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
    healed, ``busy`` when another run held the state, ``ended``: issues no longer open whose
    unfinished runs it ended (``end_abandoned``)."""

    triage: Required[list[dict[str, object]]]  # as triage.queue gives them
    implement: Required[list[StageRow]]
    validate: Required[list[StageRow]]
    production: ProductionState
    busy: str
    ended: list[int]
    deferred: dict[str, object]  # issues the daily author limit defers: count, until
    waiting: list[int]  # issues of the cycle that now wait for a person (review or decision)


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
    """Accepted open issues the factory has not finished with (and that need no approval),
    and those whose implement run was interrupted, whatever their labels say (a run stopped
    while it labelled its end finishes it)."""
    done = {Label.NEEDS_REVIEW, Label.FAILED, Label.NEEDS_HUMAN}
    interrupted = {run.issue for run in services.store.open_runs("implement") if run.issue}
    issues = (  # on the local forge each issue's state is kept by the store: read by index
        services.store.ready_issues(interrupted)
        if services.forge.kind == "local"
        else [Queued(i.number, i.author, i.labels) for i in services.forge.list_issues("open")]
    )
    return [
        i.number
        for i in issues
        if i.number in interrupted
        or (
            Label.ACCEPTED in i.labels
            and not done & set(i.labels)
            and not waits_for_approval(services, i)
        )
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


def cycle_exit(result: CycleResult, fail_on_waiting: bool = False) -> int:
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
    """``result`` with the issues it worked on that now wait for a person."""
    rows = [*result["triage"], *result["implement"], *result["validate"]]
    held = {Label.NEEDS_REVIEW, Label.NEEDS_HUMAN}
    worked = sorted({int(str(row["issue"])) for row in rows})
    waiting = [n for n in worked if held & set(services.forge.get_issue(n).labels)]
    return {**result, "waiting": waiting} if waiting else result


def _one(
    settings: Settings,
    provider: str | None,
    stage: str,
    number: int,
    store: Store,
    plan: Path | None = None,
) -> StageRow:
    with cpu.working():  # from its first line, the worker's run holds a CPU slot
        # the stage's store (a connection per thread), settings and caches shared; the
        # forge and the repository handle the worker's own
        services = open_services(
            settings.root, settings.state_dir, provider, settings, plan=plan, store=store
        )
        try:
            fn = implement_issue if stage == "implement" else validate_issue
            return stage_row(stage, number, fn(services, number), None)
        except FactoryError as exc:
            return stage_row(stage, number, None, str(exc))


@shared()  # one egress proxy and one warm analyser for every issue of the stage
def run_stage(
    settings: Settings,
    provider: str | None,
    stage: str,
    numbers: list[int],
    width: int,
    progress: Progress = lambda _: None,
    plan: Path | None = None,
) -> list[StageRow]:
    """``stage`` (implement | validate) for each issue, ``width`` at a time; a row each."""
    rows: list[StageRow] = []
    if not numbers:
        return rows
    require_model(settings, provider)
    progress(f"{stage} {len(numbers)} issue(s), {width} at a time …")
    with closing(Store.open(settings.state_dir)) as store, ThreadPoolExecutor(width) as pool:
        futures = [pool.submit(_one, settings, provider, stage, n, store, plan) for n in numbers]
        for future in futures:
            row = future.result()
            said = shown(outcome_of(row), row["status"])
            progress(f"  issue {row['issue']}: {said} {row.get('reason') or ''}")
            rows.append(row)
    return rows


@shared()  # and for every set-up of the cycle
def run_cycle(
    root: Path,
    state: Path,
    provider: str | None,
    max_parallel: int | None,
    progress: Progress = lambda _: None,
    plan: Path | None = None,
) -> CycleResult:
    # production synced first: the governance as production has it now
    services = open_services(root, state, provider, plan=plan, sync=True)
    check_kill_switch(services)
    width = max_parallel or services.settings.config.max_parallel
    WorktreeManager.of(services.repo, services.settings.state_dir).prune()  # killed runs' leftovers
    progress("triage …")
    if untriaged(services):  # an idle cycle asks no model: it needs no key
        require_model(services.settings, provider)
    triaged = triage_all(services)
    for row in triaged:
        progress(f"  issue {row['issue']}: {row.get('decision') or row['status']}")
    waiting = deferred_waiting(services)

    def stage(name: str, numbers: list[int]) -> list[StageRow]:
        return run_stage(services.settings, provider, name, numbers, width, progress, plan)

    result: CycleResult = {"triage": triaged, "implement": [], "validate": []}
    if waiting:
        result["deferred"] = waiting
    ended = end_abandoned(services)
    for number in ended:
        progress(f"  issue {number}: no longer open, its unfinished run ended")
    if ended:
        result["ended"] = ended
    # a validation killed after its merge (smoke or revert left undone) is finished first
    result["validate"] = stage("validate", unfinished_after_merge(services))
    progress("production health …")
    health = production_health(services, synced=True)  # fetched as the cycle began
    if "heal" in health or "warning" in health or not health["green"]:
        result["production"] = health
    if "warning" in health:
        progress(f"  WARNING: {health['warning']}")
    if not health["green"]:  # nothing is built on it; a revert heal opened is validated
        progress(f"  production is red: {health.get('reason')}")
        result["validate"] += stage("validate", reverts_waiting(services))
        services.forge.settle()
        return _for_a_person(services, result)
    result["implement"] = stage("implement", ready_to_implement(services))
    check_kill_switch(services)
    result["validate"] += stage("validate", _waiting(services))
    services.forge.settle()
    return _for_a_person(services, result)


def end_abandoned(services: Services) -> list[int]:
    """End the implement and validate runs left unfinished (killed, stopped or deferred) on an
    issue that is no longer open, closed by a person or deleted: only open issues are taken
    up, so nothing would resume them, and resuming would spend on work nobody wants. A
    validation whose merge closed its issue is not one (``unfinished_after_merge`` finishes
    it). Each is ended under the issue's lease, and only if it is still the issue's open run
    then: a run alive in another process is left to end itself. The issues, in order."""
    store = services.store
    runs = [r for w in ("implement", "validate") for r in store.open_runs(w)]
    if not runs:
        return []
    kept = {i.number for i in services.forge.list_issues("open")}
    kept |= set(unfinished_after_merge(services))
    ended: list[int] = []
    for run in runs:
        number = run.issue
        if number is None or number in kept:
            continue
        try:
            with store.held(number, LEASE_TTL_S):
                still = store.find_open_run(run.workflow, number)
                if still is None or still.id != run.id:
                    continue
                why = f"issue #{number} is no longer open: its {run.workflow} run was not resumed"
                end_unfinished(services, run.id, why)
                ended.append(number)
        except LeaseError:  # held by a run alive in another process
            continue
    return sorted(set(ended))


def _waiting(services: Services) -> list[int]:
    return [
        i.number
        for i in services.forge.list_issues("open")
        if Label.NEEDS_REVIEW in i.labels and needs_validation(services, i.number)
    ]
