"""What the dashboard shows, read from the state the way ``factory status/runs/report`` do:
typed records, no HTML (the templates render them, escaped). What the store holds was
redacted as it was written (``harness/store/base.py``), so the pages and ``factory report``
show the same text; transcripts, files of their own, are redacted as they are read too."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness.artifacts import (
    CheckResult,
    GateResult,
    HoldoutRun,
    Implemented,
    IssueSpec,
    KeptVerdict,
    Landing,
    Plan,
    Review,
    Routing,
    Smoke,
    Tested,
    Verdict,
)
from harness.artifacts.browser import JourneyResult
from harness.decisions import REVIEWABLE
from harness.engine.budget import start_of_day
from harness.engine.context import Services
from harness.engine.records import RunRecords
from harness.engine.runner import kill_switch_state
from harness.errors import FactoryError
from harness.forge.base import Comment, Issue, Label, queue_state
from harness.forge.markers import readable
from harness.redact import redact
from harness.retry import CANCELLABLE
from harness.review.autonomy import AutonomyIndex, autonomy_index, autonomy_series
from harness.review.change import ChangeDiff, change_diff
from harness.review.trust import TrustState, trust_states
from harness.serve.charts import Chart, bars, hbars, line
from harness.store.records import CallRow, Event, Run, Said, StepRecord

EVIDENCE = "evidence"  # the folder under the state that screenshots are served from

PAGE_SIZE = 100  # rows on a page of runs, and of each state's issues in the queue

# the queue's states, in the order the page lists them: label -> heading
QUEUE_STATES: tuple[tuple[str, str], ...] = (
    (Label.ACCEPTED, "accepted"),
    (Label.IN_PROGRESS, "in progress"),
    (Label.NEEDS_REVIEW, "needs review"),
    (Label.NEEDS_HUMAN, "needs human"),
    (Label.FAILED, "failed"),
    (Label.DEFERRED, "deferred"),
    (Label.NEEDS_INFO, "needs info"),
    (Label.MERGED, "merged"),
    (Label.REJECTED, "rejected"),
)


def parse_ts(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)  # a "Z" too (Python 3.11)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def elapsed_s(run: Run, now: float) -> float:
    start = parse_ts(run.started_at)
    end = parse_ts(run.finished_at)
    if start is None:
        return 0.0
    return max(0.0, (end.timestamp() if end else now) - start.timestamp())


def evidence_url(state_dir: Path, path: object) -> str | None:
    """The dashboard's URL of an evidence file, or None if it lies outside the evidence
    folder (nothing else of the state is ever served)."""
    if not path:
        return None
    root = (state_dir / EVIDENCE).resolve()
    try:
        rel = Path(str(path)).resolve().relative_to(root)
    except (ValueError, OSError):
        return None
    return "/evidence/" + rel.as_posix()


# -- Now -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunLine:
    id: str
    workflow: str
    issue: int | None
    status: str
    outcome: str | None  # what became of the work (harness/store/outcomes.py)
    current_step: str | None
    started_at: str
    finished_at: str | None
    elapsed_s: float
    cost_usd: float
    input_tokens: int
    output_tokens: int
    reason: str | None


def run_lines(services: Services, runs: list[Run], now: float) -> list[RunLine]:
    """Runs as the pages show them, their costs read in one query."""
    rows = services.store.run_rows(runs)
    return [
        RunLine(**row, current_step=run.current_step, elapsed_s=elapsed_s(run, now))
        for run, row in zip(runs, rows, strict=True)
    ]


@dataclass(frozen=True)
class Spend:
    name: str
    spent_usd: float
    cap_usd: float

    @property
    def share(self) -> float:
        return min(1.0, self.spent_usd / self.cap_usd) if self.cap_usd else 0.0


@dataclass(frozen=True)
class NowView:
    stopped: bool
    stop_reason: str | None
    running: list[RunLine]
    recent: list[RunLine]
    spend: list[Spend]
    counts: dict[str, int]


def now_view(services: Services) -> NowView:
    store = services.store
    now = services.clock()
    state = kill_switch_state(services)
    stopped = state[0] if state is not None else None
    cap = services.settings.governance.rules.budgets.per_day_usd
    recent = [r for r in store.list_runs(limit=10) if r.status != "running"]
    return NowView(
        stopped=stopped is not None,
        stop_reason=stopped,
        running=run_lines(services, store.list_runs(limit=None, status="running"), now),
        recent=run_lines(services, recent, now),
        spend=[Spend("today", store.spend(since=start_of_day(time.time())), cap)],
        counts=store.outcome_counts(),
    )


@dataclass(frozen=True)
class TrustPanel:
    """Earned trust per kind and the Autonomy Index (30 days): how dark the factory runs."""

    trust: list[TrustState]
    trust_error: str | None
    autonomy: AutonomyIndex


def trust_panel(services: Services) -> TrustPanel:
    try:
        states = trust_states(services)
        error = None
    except FactoryError as exc:
        states = []
        error = str(exc)
    return TrustPanel(states, error, autonomy_index(services, days=30))


# -- Queue ---------------------------------------------------------------------------------


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
    for label, heading in [*QUEUE_STATES, ("new", "new (not triaged)"), ("closed", "closed")]:
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


def why_of(run: Said) -> str | None:
    """The reason the code gave for an issue's newest decision (its run's, else); why its
    run failed, when it did (a person's cancel of it too), rather than a reason one of its
    steps was given (an implementation's, triage's)."""
    why = run["run_reason"] if run["status"] == "failed" else run["reason"] or run["run_reason"]
    return str(why) if why else None


# -- Issue page ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Spent:
    """What a step's model calls cost (counted on its first attempt's line)."""

    cost_usd: float
    input_tokens: int
    output_tokens: int
    calls: int


@dataclass(frozen=True)
class Shot:
    label: str
    url: str


@dataclass
class Trail:
    """One run of an issue, as its page shows it."""

    run: RunLine
    steps: list[tuple[StepRecord, Spent]]
    decision: str | None = None
    rule: str | None = None
    reason: str | None = None
    criteria: list[str] = field(default_factory=list)
    plan: str | None = None
    files: list[str] = field(default_factory=list)
    summary: str | None = None
    diff: str | None = None
    tests: Tested | None = None
    review: Review | None = None
    gates: list[GateResult] = field(default_factory=list)
    # (the step that ran it, the journey with its screenshot's URL)
    journeys: list[tuple[str, JourneyResult]] = field(default_factory=list)
    validator: Verdict | None = None
    # each criterion with the observations it rests on (``ValidatorRun.by_criterion``)
    validator_criteria: list[dict[str, Any]] = field(default_factory=list)
    reused: KeptVerdict | None = None  # the verdict was given in an earlier run: how kept
    validator_shots: list[Shot] = field(default_factory=list)
    pr: int | None = None
    merge: Landing | None = None
    reverted: str | None = None


@dataclass(frozen=True)
class IssuePage:
    issue: Issue
    state: str
    comments: list[Comment]
    trails: list[Trail]
    cost_usd: float
    reviewable: bool
    cancellable: bool  # accepted or in progress: a person may stop the factory's work on it
    label: str | None  # the review label it waits under
    why: str | None  # the reason the code gave for its newest decision (why it waits)
    audit: list[Event]
    diff: ChangeDiff | None  # what its pull request holds


def _tokens_in(c: CallRow) -> int:
    """The input tokens of a call, those read from or written to the prompt cache too."""
    cached = int(c["cache_read_input_tokens"] or 0) + int(c["cache_creation_input_tokens"] or 0)
    return int(c["input_tokens"] or 0) + cached


def step_lines(services: Services, run_id: str) -> list[tuple[StepRecord, Spent]]:
    by_step: dict[str, list[CallRow]] = {}
    for call in services.store.calls(run_id):
        by_step.setdefault(str(call["step_id"]), []).append(call)
    lines = []
    for s in services.store.steps(run_id):
        mine = by_step.pop(s.step_id, [])  # counted once, on the step's first attempt's line
        cost = round(sum(float(c["cost_usd"] or 0) for c in mine), 6)
        tokens = sum(_tokens_in(c) for c in mine), sum(int(c["output_tokens"] or 0) for c in mine)
        lines.append((s, Spent(cost, *tokens, len(mine))))
    return lines


def _journeys(state_dir: Path, records: RunRecords) -> list[tuple[str, JourneyResult]]:
    return [
        (step.step_id, replace(j, screenshot=evidence_url(state_dir, j.screenshot)))
        for step, run in records.every(HoldoutRun)
        for j in run.journeys
    ]


def _said(records: RunRecords, run: Run) -> tuple[str | None, str | None]:
    """The rule and reason the code gave (triage's or validation's, newest), else the run's."""
    spec = records.judged()
    routed = records.every(Routing)
    said = [(step.seq, found.reason) for step, found in spec if found.reason]
    said += [(step.seq, found.reason) for step, found in routed if found.reason]
    reason = max(said)[1] if said else run.reason
    return (spec[-1][1].rule if spec else None), reason


def trail(services: Services, run: Run, now: float) -> Trail:
    state_dir = services.settings.state_dir
    records = RunRecords(services.store.steps(run.id))
    out = Trail(run=run_lines(services, [run], now)[0], steps=step_lines(services, run.id))
    out.decision = records.decision()
    out.rule, out.reason = _said(records, run)
    spec = records.newest(IssueSpec)
    out.criteria = list(spec.acceptance_criteria) if spec else []
    if run.workflow == "implement":
        plan = records.newest(Plan)
        done = records.newest(Implemented)
        out.plan, out.files = (plan.plan, plan.files) if plan else (None, [])
        out.summary = done.summary if done else None
        out.review = records.newest(Review)
    ran = [run.tests for _, run in records.every(HoldoutRun) if run.tests is not None]
    out.tests = ran[-1] if ran else records.newest(Tested)
    out.gates = records.gates()
    out.diff = next((g.evidence for g in out.gates if g.name == "changed_lines"), None)
    out.journeys = _journeys(state_dir, records)
    # the sealed validator's own answer (the check's; the decision keeps only a summary)
    checked = records.newest(CheckResult)
    if checked is not None and (validator := checked.validator) is not None:
        out.validator, out.validator_criteria = validator.output, validator.by_criterion()
        out.reused = validator.kept
        out.validator_shots = [
            Shot(Path(p).name, url) for p in validator.shots if (url := evidence_url(state_dir, p))
        ]
    out.pr = records.pr()
    out.merge = records.newest(Landing)
    out.reverted = smoke.reverted if (smoke := records.newest(Smoke)) else None
    return out


def issue_page(services: Services, number: int) -> IssuePage:
    issue = services.forge.get_issue(number)
    now = services.clock()
    store = services.store
    healed = [
        store.get_run(run_id) for run_id in store.heal_runs(number)
    ]  # the heals that named it
    runs = sorted([*store.list_runs(limit=None, issue=number), *healed], key=lambda r: r.started_at)
    waiting = [lab for lab in REVIEWABLE if lab in issue.labels]
    said = store.latest_said([number]).get(number)
    return IssuePage(
        issue=replace(issue, body=readable(issue.body)),
        state=queue_state(issue),
        comments=[replace(c, body=readable(c.body)) for c in services.forge.list_comments(number)],
        trails=[trail(services, run, now) for run in runs],
        cost_usd=round(services.store.spend(issue=number), 6),
        reviewable=issue.state == "open" and bool(waiting),
        cancellable=issue.state == "open" and queue_state(issue) in CANCELLABLE,
        label=waiting[0] if waiting else None,
        why=why_of(said) if said else None,
        audit=services.store.events(kind="human.", issue=number),
        diff=change_diff(services.store, services.repo, number),
    )


# -- Runs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFilters:
    workflow: str | None = None
    status: str | None = None
    issue: int | None = None
    day: str | None = None  # YYYY-MM-DD (UTC)
    page: int = 1  # 1: the newest PAGE_SIZE runs that match, 2: the next ones, …


def runs_view(services: Services, filters: RunFilters) -> list[RunLine]:
    """One page of the runs that match, newest first: by index, however many there are."""
    runs = services.store.list_runs(
        limit=PAGE_SIZE,
        workflow=filters.workflow,
        issue=filters.issue,
        status=filters.status,
        day=filters.day,
        offset=(max(filters.page, 1) - 1) * PAGE_SIZE,
    )
    return run_lines(services, runs, services.clock())


@dataclass(frozen=True)
class Message:
    role: str
    kind: str  # text | tool_use | tool_result | thinking
    text: str


@dataclass(frozen=True)
class Transcript:
    name: str
    messages: list[Message]


@dataclass(frozen=True)
class RunPage:
    trail: Trail  # the run as every list shows it (``trail.run``), and its steps
    calls: list[tuple[CallRow, int]]  # each call, and its input tokens (cached ones too)
    transcripts: list[Transcript]
    governance: dict[str, str]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_text(v.get("text", v) if isinstance(v, dict) else v) for v in value)
    return json.dumps(value, indent=1, ensure_ascii=False, default=str)


def read_transcript(path: Path) -> Transcript:
    """A transcript file as messages; every secret of this process's environment redacted."""
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return Transcript(path.stem, [Message("?", "text", "(unreadable transcript)")])
    messages: list[Message] = []
    for item in data if isinstance(data, list) else [data]:
        if not isinstance(item, dict):
            continue
        role = str(item.get("role", "?"))
        content = item.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        for block in blocks:
            if not isinstance(block, dict):
                continue
            kind = str(block.get("type", "text"))
            if kind == "tool_use":
                body = f"{block.get('name')}({_text(block.get('input'))})"
            elif kind == "tool_result":
                body = _text(block.get("content"))
            else:
                body = _text(block.get("text") or block.get("thinking") or "")
            messages.append(Message(role, kind, redact(body)))
    return Transcript(path.stem, messages)


def run_page(services: Services, run_id: str) -> RunPage:
    run = services.store.get_run(run_id)
    now = services.clock()
    folder = services.settings.state_dir / "transcripts" / run.id
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return RunPage(
        trail=trail(services, run, now),
        calls=[(c, _tokens_in(c)) for c in services.store.calls(run.id)],
        transcripts=[read_transcript(p) for p in files],
        governance=run.governance,
    )


# -- Trends --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trends:
    days: list[str]
    merges: list[int]
    refusals: dict[str, int]
    cost_per_merge: list[float]
    autonomy: list[float | None] = field(default_factory=list)
    models: list[dict[str, object]] = field(default_factory=list)  # per kind, role and model

    @property
    def charts(self) -> list[Chart]:
        """The page's charts, each day named by its month and day."""
        short = [d[5:] for d in self.days]
        return [
            bars("merges per day", short, [float(m) for m in self.merges]),
            bars("cost per merged issue (USD)", short, self.cost_per_merge, "${:.4f}"),
            hbars("refusals by reason (30 days)", self.refusals),
            line("Autonomy Index (30 days up to each day)", short, self.autonomy),
        ]


def trends_view(services: Services, days: int = 30) -> Trends:
    store = services.store
    today = datetime.fromtimestamp(services.clock(), UTC).date()
    labels = [(today - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]
    daily = store.daily_merges(labels[0])
    return Trends(
        days=labels,
        merges=[daily.get(d, (0, 0.0))[0] for d in labels],
        refusals=dict(sorted(store.refusals(labels[0]).items(), key=lambda kv: (-kv[1], kv[0]))),
        cost_per_merge=[daily.get(d, (0, 0.0))[1] for d in labels],
        autonomy=autonomy_series(store, labels, 30),
        models=store.tier_success(labels[0]),
    )
