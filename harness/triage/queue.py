"""Which issues triage takes, in what order, and the summary it reports."""

from __future__ import annotations

from typing import TypedDict

from harness.artifacts import Children, InboxInputs, IssueSpec, Queue, Ran
from harness.engine.actions import action
from harness.engine.budget import start_of_day
from harness.engine.context import Services, StepContext
from harness.engine.records import RunRecords
from harness.engine.runner import Engine, RunOutcome, recorded
from harness.forge.base import STATE_LABELS, Issue, Label, issue_sha256
from harness.model.batch import batch_folder, send
from harness.triage.actions import state_labels

TRIAGED = frozenset(STATE_LABELS) - {Label.DEFERRED}  # a deferral is judged again later


class TriageRow(TypedDict, total=False):
    """One issue's triage run, as ``factory triage --json`` and a cycle's ``triage`` rows
    show it (a run that could not start: ``issue``, ``status`` and ``reason`` alone)."""

    issue: int
    run_id: str
    status: str  # as the run ended, or deferred: stopped until the daily limit lets it through
    decision: str | None
    labels: list[str]
    rule: str | None
    reason: str | None
    source: str | None


class Deferred(TypedDict):
    """The open issues the daily author limit defers, and when it lets them through."""

    count: int
    until: str  # the next UTC midnight


def untriaged(services: Services) -> list[Issue]:
    """Open issues without a triage decision (no state label: a failed or merged one was
    triaged long ago), oldest first, skipping deferred-until-later ones. The triage runs left
    unfinished are the engine's to take up, whatever the labels say (``workflows/inbox.yaml``)."""
    pending: list[Issue] = []
    for issue in sorted(services.forge.list_issues(state="open"), key=lambda i: i.number):
        if TRIAGED & set(issue.labels) and not edited_since_asked(services, issue):
            continue  # judged, and not answered since
        found = {Label.FOUND, Label.REGRESSION} & set(issue.labels)  # its audit's, its heal's
        if services.forge.is_own(issue.author) and not found:
            continue  # the factory's own issues are not input, but for what it found
        if Label.DEFERRED in issue.labels and _deferred_today(services, issue.number):
            continue
        pending.append(issue)
    return pending


@action("triage.queue")
def queue(ctx: StepContext, inputs: InboxInputs) -> Queue:
    """The untriaged open issues a run takes, one at a time: at most
    ``triage.max_issues_per_run`` (``inputs.number``: that issue alone)."""
    services = ctx.services
    services.forge.ensure_labels()
    limit = services.settings.governance.rules.triage.max_issues_per_run
    numbers = [i.number for i in untriaged(services) if inputs.number in (None, i.number)]
    return Queue(issues=numbers[:limit], batch=inputs.batch_wait_s is not None)


@action("triage.send")
def send_batch(ctx: StepContext, triage: Children, inputs: InboxInputs) -> dict[str, str]:
    """Send the requests the runs of the ``triage`` step wait on as one Message Batch, and go
    back to that step (verdict ``sent``) to resume them with its answers."""
    state_dir = ctx.services.settings.state_dir
    folders = [batch_folder(state_dir, ran.run_id) for ran in triage.runs]
    kept = batch_folder(state_dir, ctx.run_id) / "sent"  # the batch's id, while it is out
    sent = send(ctx.services.model, folders, inputs.batch_wait_s or 0, kept)
    return {"verdict": "sent" if sent else ""}


def edited_since_asked(services: Services, issue: Issue) -> bool:
    """A "needs info" issue whose title or body changed since it was last judged: the
    author answered, so it is triaged again (once per edit: the new run records the new
    text). Any other triage label keeps the issue out."""
    if Label.NEEDS_INFO not in issue.labels or (TRIAGED - {Label.NEEDS_INFO}) & set(issue.labels):
        return False
    judged = services.store.latest_artifact(IssueSpec, issue.number)
    # labelled by hand, or judged before texts were recorded: left alone
    return bool(judged and judged.issue_sha256 and judged.issue_sha256 != issue_sha256(issue))


def _deferred_today(services: Services, number: int) -> bool:
    """Deferred today under the rules in force: a deferral under other governance files
    (``trusted_authors`` or the limit changed since) is judged again at once."""
    since = start_of_day(services.clock())
    rules = services.settings.governance.hashes
    runs = [
        services.store.get_run(r)
        for r, s in services.store.artifacts(IssueSpec, number)
        if s.decision == "deferred"
    ]
    return any((r.finished_at or "") >= since and r.governance == rules for r in runs)


def deferred_waiting(services: Services) -> Deferred | None:
    """The open issues the daily author limit defers (``count``), and when it lets them
    through (``until``: the next UTC midnight); None when none waits."""
    count = sum(Label.DEFERRED in i.labels for i in services.forge.list_issues("open"))
    until = start_of_day(services.clock() + 24 * 3600)
    return {"count": count, "until": until} if count else None


def triage_all(
    services: Services, only: int | None = None, batch_wait_s: float | None = None
) -> list[TriageRow]:
    """Triage every untriaged open issue (at most ``max_issues_per_run``), one run per issue:
    the ``inbox`` workflow, which takes up the triage runs left unfinished too.

    With ``batch_wait_s``, the triage agent's calls go out as one Message Batch (half price),
    waited for that long at most."""
    if only is not None:
        services.forge.get_issue(only)  # an issue that does not exist is an error, not "none"
    try:
        given = InboxInputs(number=only, batch_wait_s=batch_wait_s)
        outcome = Engine(services).run("inbox", inputs=given)
        return triage_rows(services, outcome.run_id)
    finally:
        services.forge.settle()


def triage_rows(services: Services, run_id: str) -> list[TriageRow]:
    """What the triage runs run ``run_id``'s newest ``workflow:`` step ran came to, in order."""
    store = services.store
    children = RunRecords(store.steps(run_id)).newest(Children)
    return [
        triage_row(ran, recorded(store, ran.run_id) if ran.run_id else None)
        for ran in (children.runs if children else [])
    ]


def triage_row(ran: Ran, outcome: RunOutcome | None) -> TriageRow:
    """One triage run's row (``outcome``: its run as recorded now); one that could not start
    says why."""
    if outcome is None:
        return {"issue": ran.issue or 0, "status": ran.status, "reason": ran.reason}
    applied = outcome.artifact(IssueSpec)
    deferred = outcome.status == "stopped" and outcome.not_before is not None
    status = "deferred" if deferred else outcome.status
    return {
        "issue": outcome.issue or 0,
        "run_id": outcome.run_id,
        "status": status,
        "decision": applied.decision if applied else None,
        "labels": state_labels(applied) if applied else [],
        "rule": applied.rule if applied else None,
        "reason": (applied.reason if applied else None) or outcome.reason,
        "source": applied.source if applied else None,
    }
