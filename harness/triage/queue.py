"""Which issues triage takes, in what order, and the summary it reports."""

from __future__ import annotations

from typing import Any

from harness.artifacts import IssueSpec, TriageInputs
from harness.engine.actions import action_info
from harness.engine.budget import start_of_day
from harness.engine.context import Services
from harness.engine.runner import Engine, RunOutcome, check_kill_switch
from harness.errors import NotFoundError, StoppedError
from harness.forge.base import STATE_LABELS, Issue, Label
from harness.model.batch import BatchCollector
from harness.triage.actions import state_labels
from harness.triage.prescreen import issue_sha256

TRIAGED = frozenset(STATE_LABELS) - {Label.DEFERRED}  # a deferral is judged again later


def untriaged(services: Services) -> list[Issue]:
    """Open issues without a triage decision (no state label: a failed or merged one was
    triaged long ago), oldest first, skipping deferred-until-later ones; an issue whose triage
    run was interrupted is resumed whatever its labels say, and closed too (a run killed
    after its rejection closed the issue has its end left to write)."""
    now = services.clock()
    pending: list[Issue] = []
    interrupted = {run.issue: run for run in services.store.open_runs("triage")}  # newest wins
    issues = services.forge.list_issues(state="open")
    listed = {issue.number for issue in issues}
    for number, run in list(interrupted.items()):
        if number and number not in listed:
            if (closed := _applying(services, number, run.id)) is None:
                del interrupted[number]
            else:
                issues.append(closed)
    for issue in sorted(issues, key=lambda i: i.number):
        open_run = interrupted.get(issue.number)
        judged = open_run is None and TRIAGED & set(issue.labels)
        if judged and not edited_since_asked(services, issue):  # and not answered since
            continue
        found = {Label.FOUND, Label.REGRESSION} & set(issue.labels)  # its audit's, its heal's
        if services.forge.is_own(issue.author) and not found:
            continue  # the factory's own issues are not input, but for what it found
        if open_run is not None and open_run.not_before and open_run.not_before > now:
            continue
        if Label.DEFERRED in issue.labels and _deferred_today(services, issue.number):
            continue
        pending.append(issue)
    return pending


def _applying(services: Services, number: int, run_id: str) -> Issue | None:
    """Issue ``number``, no longer open, if its open triage run was applying its decision (a
    rejection closes the issue: the run's end is left to write). Otherwise someone else
    closed or deleted the issue before a decision: nothing is decided about it any more,
    and its run is ended (no model call, nothing written on the issue)."""
    steps = services.store.steps(run_id)
    try:
        issue: Issue | None = services.forge.get_issue(number)
    except NotFoundError:
        issue = None
    info = action_info(str(steps[-1].inputs.get("action"))) if steps else None
    if issue is not None and info is not None and info.produces is IssueSpec:  # the applier
        return issue
    why = f"issue #{number} is no longer open: its triage run was not resumed"
    Engine(services).end(run_id, why)
    return None


def edited_since_asked(services: Services, issue: Issue) -> bool:
    """A "needs info" issue whose title or body changed since it was last judged: the
    author answered, so it is triaged again (once per edit: the new run records the new
    text). Any other triage label keeps the issue out."""
    if Label.NEEDS_INFO not in issue.labels or (TRIAGED - {Label.NEEDS_INFO}) & set(issue.labels):
        return False
    for run in services.store.list_runs(limit=20, workflow="triage", issue=issue.number):
        if run.status != "succeeded":
            continue
        for step in services.store.steps(run.id):
            judged = (step.outputs or {}).get("issue_sha256")
            if step.status == "succeeded" and judged:
                return bool(judged != issue_sha256(issue))
    return False  # labelled by hand, or judged before texts were recorded: leave it


def _deferred_today(services: Services, number: int) -> bool:
    """Deferred today under the rules in force: a deferral under other governance files
    (``trusted_authors`` or the limit changed since) is judged again at once."""
    since = start_of_day(services.clock())
    rules = services.settings.governance.hashes
    for run in services.store.list_runs(limit=20, workflow="triage", issue=number):
        if (
            run.status == "succeeded"
            and (run.finished_at or "") >= since
            and run.governance == rules
        ):
            steps = services.store.steps(run.id)
            applied = [s for s in steps if s.step_id == "apply" and s.status == "succeeded"]
            if applied and (applied[-1].outputs or {}).get("decision") == "deferred":
                return True
    return False


def deferred_waiting(services: Services) -> dict[str, object] | None:
    """The open issues the daily author limit defers (``count``), and when it lets them
    through (``until``: the next UTC midnight); None when none waits."""
    count = sum(Label.DEFERRED in i.labels for i in services.forge.list_issues("open"))
    until = start_of_day(services.clock() + 24 * 3600)
    return {"count": count, "until": until} if count else None


def summarise(outcome: RunOutcome) -> dict[str, object]:
    applied = outcome.artifact(IssueSpec)
    deferred = outcome.status == "stopped" and outcome.not_before is not None
    status = "deferred" if deferred else outcome.status
    return {
        "issue": outcome.issue,
        "run_id": outcome.run_id,
        "status": status,
        "decision": applied.decision if applied else None,
        "labels": state_labels(applied) if applied else [],
        "rule": applied.rule if applied else None,
        "reason": (applied.reason if applied else None) or outcome.reason,
        "source": applied.source if applied else None,
    }


def triage_batched(services: Services, queue: list[Issue], wait_s: float) -> list[dict[str, Any]]:
    """Two passes around ONE message batch: queue every judge request, send, then apply."""
    collector = BatchCollector(services.model)
    inner, services.model = services.model, collector
    engine = Engine(services)
    try:
        first = {
            i.number: engine.run("triage", i.number, TriageInputs(number=i.number)) for i in queue
        }
        collector.flush(wait_s)
        results = []
        for issue in queue:
            outcome = first[issue.number]
            if outcome.status == "stopped":
                outcome = engine.run("triage", issue.number, TriageInputs(number=issue.number))
            results.append(summarise(outcome))
        return results
    finally:
        services.model = inner


def triage_all(
    services: Services, only: int | None = None, batch: bool = False, batch_wait_s: float = 3600
) -> list[dict[str, Any]]:
    """Triage every untriaged open issue (at most ``max_issues_per_run``), one run per issue.

    With ``batch``, the triage agent's calls go out as one Message Batch (half price)."""
    check_kill_switch(services)
    if only is not None:
        services.forge.get_issue(only)  # an issue that does not exist is an error, not "none"
    services.forge.ensure_labels()
    limit = services.settings.governance.rules.triage.max_issues_per_run
    queue = [i for i in untriaged(services) if only is None or i.number == only]
    try:
        if batch:
            return triage_batched(services, queue[:limit], batch_wait_s)
        return _one_by_one(services, queue[:limit])
    finally:
        services.forge.settle()


def _one_by_one(services: Services, queue: list[Issue]) -> list[dict[str, Any]]:
    engine = Engine(services)
    results: list[dict[str, Any]] = []
    for taken, issue in enumerate(queue):
        if (spent := services.forge.request_budget_stop(taken)) is not None:
            results.append({"issue": issue.number, "status": "stopped", "reason": spent})
            break
        try:
            outcome = engine.run("triage", issue.number, TriageInputs(number=issue.number))
        except StoppedError as exc:
            results.append({"issue": issue.number, "status": "stopped", "reason": str(exc)})
            break
        results.append(summarise(outcome))
        if outcome.status == "stopped":
            break  # kill switch, or the provider asked us to wait: start nothing more now
    return results
