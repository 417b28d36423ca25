"""Issues as a person reads them: one issue (``factory issue show``, the dashboard's issue
page: its text and comments as GitHub shows them, the reviewer's findings on the newest
change the factory made for it, and on the page every run with its report), and the
dashboard's Queue."""

from __future__ import annotations

from dataclasses import dataclass, replace

from harness.artifacts import ANY_RUN, Review
from harness.decisions import waiting_for
from harness.engine.context import Services
from harness.forge.base import Comment, Forge, Issue, Label, queue_state
from harness.forge.markers import readable
from harness.reports.report import RunReport, run_report
from harness.reports.runs import PAGE_SIZE
from harness.retry import CANCELLABLE
from harness.review.change import ChangeDiff, change_diff
from harness.store.db import Store
from harness.store.records import Event, Said

# the queue's states, in the order the page lists them, each headed by its label's words
QUEUE_STATES = (
    Label.ACCEPTED,
    Label.IN_PROGRESS,
    Label.NEEDS_REVIEW,
    Label.NEEDS_HUMAN,
    Label.FAILED,
    Label.DEFERRED,
    Label.NEEDS_INFO,
    Label.MERGED,
    Label.REJECTED,
)


@dataclass(frozen=True)
class IssueText:
    """An issue and its comments as GitHub shows them (the markers and data blocks hidden),
    and the reviewer's verdict on the newest change the factory made for it: every finding,
    whole, with its severity (a person deciding reads them here)."""

    issue: Issue
    comments: list[Comment]
    review: Review | None


def issue_text(forge: Forge, store: Store, number: int) -> IssueText:
    issue = forge.get_issue(number)
    comments = [replace(c, body=readable(c.body)) for c in forge.list_comments(number)]
    reviews = store.artifacts(Review, number, ANY_RUN, limit=1)  # a refused change's too
    return IssueText(
        replace(issue, body=readable(issue.body)), comments, reviews[0][1] if reviews else None
    )


@dataclass(frozen=True)
class IssuePage(IssueText):
    state: str
    trails: list[RunReport]  # its runs, and the heals that named it, oldest first
    cost_usd: float
    cancellable: bool  # accepted or in progress: a person may stop the factory's work on it
    label: str | None  # the review label it waits for a person under (None: it waits for none)
    why: str | None  # the reason the code gave for its newest decision (why it waits)
    audit: list[Event]
    diff: ChangeDiff | None  # what its pull request holds


def issue_page(services: Services, number: int) -> IssuePage:
    store = services.store
    text = issue_text(services.forge, store, number)
    issue = text.issue
    healed = [store.get_run(run_id) for run_id in store.heal_runs(number)]
    runs = sorted([*store.list_runs(limit=None, issue=number), *healed], key=lambda r: r.started_at)
    said = store.latest_said([number]).get(number)
    now = services.clock()
    state_dir = services.settings.state_dir
    return IssuePage(
        **vars(text),
        state=queue_state(issue),
        trails=[run_report(store, state_dir, run, now) for run in runs],
        cost_usd=round(store.spend(issue=number), 6),
        cancellable=issue.state == "open" and queue_state(issue) in CANCELLABLE,
        label=waiting_for(issue),
        why=why_of(said) if said else None,
        audit=store.events(kind="human.", issue=number),
        diff=change_diff(store, services.repo, number),
    )


def why_of(run: Said) -> str | None:
    """The reason the code gave for an issue's newest decision (its run's, else); why its
    run failed, when it did (a person's cancel of it too), rather than a reason one of its
    steps was given (an implementation's, triage's)."""
    why = run["run_reason"] if run["status"] == "failed" else run["reason"] or run["run_reason"]
    return str(why) if why else None


@dataclass(frozen=True)
class QueueItem:
    number: int
    title: str
    created_at: str
    decision: str | None
    why: str | None


@dataclass(frozen=True)
class QueueGroup:
    """The issues in one state: how many, and one page of them, oldest first."""

    label: str
    heading: str
    count: int
    page: int  # 1: the oldest PAGE_SIZE issues, 2: the next ones, …
    items: list[QueueItem]

    @property
    def pages(self) -> int:
        return pages_of(self.count)


def pages_of(count: int) -> int:
    """Pages of PAGE_SIZE that ``count`` rows fill (one when there are none)."""
    return max(1, -(-count // PAGE_SIZE))


Queued = tuple[int, str, str]  # an issue's number, title and when it was filed


def queue_view(services: Services, state: str | None = None, page: int = 1) -> list[QueueGroup]:
    """Every state (the factory's labels, then new and closed issues) with its count and one
    page of its issues: page ``page`` of ``state``, the first of the others. Only the issues
    shown are read further (their newest run's decision, the reason the code gave for it)."""
    if services.forge.kind == "local":  # each issue's state kept by the store, read by index
        counts = services.store.queue_counts()
        rows = services.store.queue_page
    else:  # a snapshot's issues, grouped here
        groups: dict[str, list[Queued]] = {}
        for i in sorted(services.forge.list_issues("all"), key=lambda i: i.created_at):
            groups.setdefault(queue_state(i), []).append((i.number, i.title, i.created_at))
        counts = {label: len(found) for label, found in groups.items()}

        def grouped(state: str, start: int, size: int) -> list[Queued]:
            return groups.get(state, [])[start : start + size]

        rows = grouped

    picked: list[tuple[str, str, int, int, list[Queued]]] = []  # label, heading, count, page
    headed = [(x, x.removeprefix("factory:").replace("-", " ")) for x in QUEUE_STATES]
    for label, heading in [*headed, ("new", "new (not triaged)"), ("closed", "closed")]:
        count = counts.get(label, 0)
        at = min(max(page, 1), pages_of(count)) if label == state else 1
        picked.append((label, heading, count, at, rows(label, (at - 1) * PAGE_SIZE, PAGE_SIZE)))
    said = services.store.latest_said([i[0] for *_, items in picked for i in items])

    def item(i: Queued) -> QueueItem:
        run = said.get(i[0])
        if run is None:
            return QueueItem(*i, None, None)
        decision = run["route"] or run["decision"] or run["status"]
        return QueueItem(*i, f"{run['workflow']}: {decision}", why_of(run))

    return [
        QueueGroup(label, heading, count, at, [item(i) for i in items])
        for label, heading, count, at, items in picked
    ]
