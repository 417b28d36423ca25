"""``factory run``: one full cycle — triage, implement in parallel, validate, merge."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness.artifacts import PrCandidate, ValidationTarget
from harness.config.settings import Settings
from harness.engine.context import Services
from harness.engine.runner import Engine, RunOutcome, check_kill_switch
from harness.errors import FactoryError, ForgeError
from harness.git.worktrees import WorktreeManager, default_worktree_root
from harness.implement.run import implement_issue, waits_for_approval
from harness.services import open_services
from harness.store.outcomes import outcome_word, shown
from harness.triage.queue import triage_all
from harness.validate.run import unfinished_after_merge, validate_issue

Progress = Callable[[str], None]


def _latest_pr(services: Services, number: int) -> tuple[str, str] | None:
    """(implement run, head) of the newest PR the factory opened for ``number``."""
    candidate = services.store.latest_artifact(PrCandidate, number)
    return (candidate.implement_run, candidate.head) if candidate is not None else None


def needs_validation(services: Services, number: int) -> bool:
    """A PR waits for validation unless a finished validation already judged this very PR at
    this very head (a PR opened again after a retry is validated again, even when a person's
    retry left its commit unchanged)."""
    latest = _latest_pr(services, number)
    if latest is None:
        return False
    finished = ("succeeded", "failed")
    for _, target in services.store.artifacts(ValidationTarget, number, run_status=finished):
        if (target.implement_run, target.head) == latest:
            return False
    return True


def ready_to_implement(services: Services) -> list[int]:
    """Accepted open issues the factory has not finished with (and that need no approval),
    and those whose implement run was interrupted, whatever their labels say (a run stopped
    while it labelled its end finishes it)."""
    done = {"factory:needs-review", "factory:failed", "factory:needs-human"}
    interrupted = {run.issue for run in services.store.open_runs("implement")}
    return [
        i.number
        for i in services.forge.list_issues("open")
        if i.number in interrupted
        or (
            "factory:accepted" in i.labels
            and not done & set(i.labels)
            and not waits_for_approval(services, i)
        )
    ]


def _row(stage: str, number: int, outcome: RunOutcome | None, error: str | None) -> dict[str, Any]:
    if outcome is None:
        return {"stage": stage, "issue": number, "status": "refused", "reason": error}
    out = outcome.outputs
    reason = outcome.reason
    decided = out.get("decide", {})
    if decided and decided.get("route") != "merge":
        failed = [g for g in decided.get("gates", []) if not g["passed"]]
        journeys = [j for j in out.get("check", {}).get("journeys", []) if not j["passed"]]
        reason = "; ".join(
            ([str(decided["reason"])] if decided.get("reason") else [])
            + [f"{g['name']}: {g['evidence']}" for g in failed]
            + [f"journey '{j['name']}' failed at step {j['failed_step']}" for j in journeys]
        )
    elif decided:
        reason = str(decided.get("reason") or "")
    return {
        "stage": stage,
        "issue": number,
        "status": outcome.status,
        "reason": reason,
        "run_id": outcome.run_id,
        "pr": out.get("pr", {}).get("pr") or out.get("prepare", {}).get("pr"),
        "route": out.get("decide", {}).get("route"),
        "merge_sha": out.get("merge", {}).get("merge_sha"),
        "reverted": out.get("smoke", {}).get("reverted"),
    }


def outcome_of(row: dict[str, Any]) -> str | None:
    """What happened to one issue in one stage (``outcome_word``, the one rule)."""
    return outcome_word(
        str(row["stage"]),
        str(row["status"]),
        pr=bool(row.get("pr")),
        route=row.get("route"),
        landed=bool(row.get("merge_sha")),
        reverted=bool(row.get("reverted")),
    )


def refused_any(result: dict[str, Any]) -> bool:
    """Whether a gate, a budget or a validator said no to any issue of the cycle
    (README, "Commands": exit 1). A triage decision to reject or ask for information is not
    a refusal."""
    return (
        not result.get("production", {"green": True})["green"]  # red production stops the cycle
        or any(row["status"] == "stopped" for row in result["triage"])
        or any(row["status"] != "succeeded" for row in result["implement"])
        or any(outcome_of(row) != "merged" for row in result["validate"])
    )


def _one(
    settings: Settings, provider: str | None, stage: str, number: int, plan: Path | None = None
) -> dict[str, Any]:
    # one set of services per thread (git and SQLite handles), the cycle's settings shared
    services = open_services(settings.root, settings.state_dir, provider, settings, plan=plan)
    try:
        fn = implement_issue if stage == "implement" else validate_issue
        return _row(stage, number, fn(services, number), None)
    except FactoryError as exc:
        return _row(stage, number, None, str(exc))
    finally:
        services.store.close()


def run_stage(
    settings: Settings,
    provider: str | None,
    stage: str,
    numbers: list[int],
    width: int,
    progress: Progress = lambda _: None,
    plan: Path | None = None,
) -> list[dict[str, Any]]:
    """``stage`` (implement | validate) for each issue, ``width`` at a time; a row each."""
    rows: list[dict[str, Any]] = []
    if not numbers:
        return rows
    progress(f"{stage} {len(numbers)} issue(s), {width} at a time …")
    with ThreadPoolExecutor(max_workers=width) as pool:
        futures = [pool.submit(_one, settings, provider, stage, n, plan) for n in numbers]
        for future in futures:
            row = future.result()
            said = shown(outcome_of(row), str(row["status"]))
            progress(f"  issue {row['issue']}: {said} {row.get('reason') or ''}")
            rows.append(row)
    return rows


def run_cycle(
    root: Path,
    state: Path,
    provider: str | None,
    max_parallel: int | None,
    progress: Progress = lambda _: None,
    plan: Path | None = None,
) -> dict[str, Any]:
    # production synced first: the governance as production has it now
    services = open_services(root, state, provider, plan=plan, sync=True)
    check_kill_switch(services)
    width = max_parallel or services.settings.config.max_parallel
    manager = WorktreeManager(services.repo, default_worktree_root(services.settings.state_dir))
    manager.prune()  # leftovers of killed runs
    progress("triage …")
    triaged = triage_all(services)
    for row in triaged:
        progress(f"  issue {row['issue']}: {row.get('decision') or row['status']}")

    def stage(name: str, numbers: list[int]) -> list[dict[str, Any]]:
        return run_stage(services.settings, provider, name, numbers, width, progress, plan)

    ready = ready_to_implement(services)
    if ready or _waiting(services):
        progress("production health …")
        health = production_health(services)
        if not health["green"]:
            progress(f"  production is red: {health['reason']}")
            services.forge.settle()
            return {"triage": triaged, "implement": [], "validate": [], "production": health}
    implemented = stage("implement", ready)
    check_kill_switch(services)
    waiting = _waiting(services)
    # a validation killed after its merge (smoke or revert left undone) is finished too
    waiting += [n for n in unfinished_after_merge(services) if n not in waiting]
    validated = stage("validate", waiting)
    services.forge.settle()
    return {"triage": triaged, "implement": implemented, "validate": validated}


def _waiting(services: Services) -> list[int]:
    return [
        i.number
        for i in services.forge.list_issues("open")
        if "factory:needs-review" in i.labels and needs_validation(services, i.number)
    ]


TRACKING_FLAG = "health:tracking-issue"


def production_health(services: Services) -> dict[str, Any]:
    """Production's tests and hold-out, before a cycle implements or validates anything. Red:
    one tracking issue (labelled ``factory:needs-human``, one comment per red production
    commit) and no change touched or blamed; green again: the tracking issue says so and is
    closed."""
    outcome = Engine(services).run("health")
    forge, store = services.forge, services.store
    tracking = store.get_flag(TRACKING_FLAG)
    if outcome.status == "succeeded":
        sha = str(outcome.outputs.get("health", {}).get("production_sha", ""))
        if tracking and forge.get_issue(int(tracking)).state == "open":
            body = services.templates.render("comments/health_green.md.j2", sha=sha)
            forge.post_comment(int(tracking), f"health:green:{sha}", body)
            forge.close_issue(int(tracking))
        return {"green": True, "run_id": outcome.run_id}
    reason = outcome.reason or "production failed its health check"
    failed = next((s for s in reversed(store.steps(outcome.run_id)) if s.status == "failed"), None)
    sha = str((failed.outputs or {}).get("production_sha", "")) if failed else ""
    body = services.templates.render(
        "comments/health_red.md.j2", reason=reason, run_id=outcome.run_id
    )
    try:
        if not tracking or forge.get_issue(int(tracking)).state != "open":
            title = "Production is red: the factory has stopped"
            tracking = str(forge.create_issue(title, body, forge.bot_login).number)
            store.set_flag(TRACKING_FLAG, tracking)
        forge.add_labels(int(tracking), ["factory:needs-human"])
        forge.post_comment(int(tracking), f"health:red:{sha}", body)
    except ForgeError as exc:  # a plan cannot file an issue: the cycle still stops
        return {"green": False, "reason": reason, "run_id": outcome.run_id, "tracking": str(exc)}
    return {"green": False, "reason": reason, "run_id": outcome.run_id, "tracking": tracking}
