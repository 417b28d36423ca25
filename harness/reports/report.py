"""A run's report — ``factory report`` (``--json`` too), MCP's ``report``, the dashboard's run
page and each run on an issue's page — read once from the store: the run's row, its steps
with what their model calls cost, and what its records say, read by type (``RunRecords``),
newest winning: the decision with the rule and reason given for it, the spec's criteria,
the plan, the change and the reviewer's findings, the tests, the gates, the journeys, the
sealed validator's verdict criterion by criterion with the observations each rests on, the
PR, the merge and its revert, what each set-up reached through the egress proxy, and heal's
diagnosis, culprit and deed. What the store holds was redacted as it was written
(``harness/store/base.py``), so every face shows the same text; transcripts, files of their
own, are redacted as they are read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import JsonValue

from harness.artifacts import (
    Artifact,
    Baseline,
    Blame,
    CheckResult,
    CriterionRow,
    Diagnosis,
    GateResult,
    Healed,
    Health,
    HoldoutRun,
    Implemented,
    IssueSpec,
    JourneyResult,
    Landing,
    Plan,
    Review,
    Routing,
    SetupRun,
    Smoke,
    Tested,
    ValidatorRun,
)
from harness.engine.commands import AGENT_TESTS
from harness.engine.records import RunRecords
from harness.redact import redact
from harness.reports.runs import RunLine, run_lines
from harness.review.change import change_diff
from harness.store.records import CallRow, Run, StepRecord
from harness.validate.suite import suite_runs

if TYPE_CHECKING:
    from harness.engine.context import Services
    from harness.git.repo import GitRepo
    from harness.store.db import Store

EVIDENCE = "evidence"  # the folder under the state that screenshots are served from
TAIL = 2000  # what a report shows of a failed step's output: its last characters


@dataclass(frozen=True)
class Call:
    """One model call: its input tokens count those read from or written to the prompt
    cache too; ``stop``: why the model stopped, or the call's error."""

    step: str
    at: str
    model: str
    input_tokens: int
    output_tokens: int
    duration_s: float
    stop: str
    cost_usd: float


@dataclass(frozen=True)
class Spent:
    """What model calls cost: a step's (counted on its first attempt's line), or one model's
    in a run (an escalated attempt's tier among them)."""

    cost_usd: float
    input_tokens: int
    output_tokens: int
    calls: int

    @classmethod
    def of(cls, calls: list[Call]) -> Spent:
        return cls(
            round(sum(c.cost_usd for c in calls), 6),
            sum(c.input_tokens for c in calls),
            sum(c.output_tokens for c in calls),
            len(calls),
        )


@dataclass(frozen=True)
class StepLine:
    step: str
    attempt: int
    status: str  # running | succeeded | failed | skipped | interrupted
    started_at: str
    finished_at: str | None
    duration_s: float | None
    model_s: float
    subprocess_s: float
    error: str | None
    outputs: dict[str, JsonValue]
    spent: Spent

    @property
    def tail(self) -> str:
        """A failed step's output, its last ``TAIL`` characters ("" for any other step)."""
        output = self.outputs.get("output") if self.status == "failed" else None
        return str(output)[-TAIL:] if output else ""


@dataclass(frozen=True)
class Journey:
    """A journey a step of the run ran, with its screenshot's URL on the dashboard."""

    step: str
    result: JourneyResult
    url: str | None


@dataclass(frozen=True)
class AgentTests:
    """The implementer's ``run_tests`` calls in a run: those that ran the tests its change
    touched, and those that ran the whole suite."""

    touched: int
    suite: int


@dataclass(frozen=True)
class Shot:
    label: str
    url: str


@dataclass(frozen=True)
class RunReport(RunLine):
    governance: dict[str, str]  # the hashes of the rules the run followed
    steps: list[StepLine]
    calls: list[Call]
    decision: str | None  # validation's route, else triage's decision
    rule: str | None
    why: str | None  # the reason the code gave for it (triage's or validation's), else the run's
    criteria: list[str]  # the spec's acceptance criteria
    plan: Plan | None
    summary: str | None  # what the implementer says it changed
    review: Review | None  # the reviewer's verdict and every finding, with its severity
    tests: Tested | None
    gates: list[GateResult]
    journeys: list[Journey]
    validator: list[CriterionRow] | None  # the sealed validator's verdict, criterion by criterion
    checked: ValidatorRun | None  # its whole answer: the verdict, how it was kept, sent back …
    shots: list[Shot]  # the validator's screenshots
    refused: list[tuple[str, str]]  # (step, who): connections to the seal it refused
    pr: int | None
    merge: Landing | None
    reverted: str | None  # the revert of the merge, when its smoke run failed
    network: list[str]  # each set-up's connections through the egress proxy
    diagnosed: Diagnosis | None
    blame: Blame | None
    healed: Healed | None
    evidence: list[str]  # the folders that keep its screenshots and transcripts
    suite_runs: int  # the whole suite's runs for its issue (docs/testing.md)
    chosen: list[str]  # the commands that ran chosen tests instead
    agent_tests: AgentTests
    change: str | None  # the pull request its diff is of, on one line
    diff: str | None  # the change an implement or validate run's pull request holds

    def by_model(self) -> dict[str, Spent]:
        """What each model's calls cost, by the model's name."""
        models = sorted({call.model for call in self.calls})
        return {model: Spent.of([c for c in self.calls if c.model == model]) for model in models}


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


def run_report(
    store: Store, state_dir: Path, run: Run, now: float, repo: GitRepo | None = None
) -> RunReport:
    """The run's report; with ``repo``, the change its issue's pull request holds too (an
    implement or validate run's)."""
    steps = store.steps(run.id)
    records = RunRecords(steps)
    calls = [_call(c) for c in store.calls(run.id)]
    rule, why = _said(records, run)
    spec = records.newest(IssueSpec)
    done = records.newest(Implemented)
    ran = [found.tests for _, found in records.every(HoldoutRun) if found.tests is not None]
    checked = records.newest(CheckResult)
    validator = checked.validator if checked is not None else None
    change = None
    if repo is not None and run.issue is not None and run.workflow in ("implement", "validate"):
        change = change_diff(store, repo, run.issue, records)
    suites, chosen = suite_runs(store, run.issue, run.id)
    smoke = records.newest(Smoke)
    whole = [event.data["suite"] for event in store.events(run.id, AGENT_TESTS)]
    return RunReport(
        **vars(run_lines(store, [run], now)[0]),
        governance=run.governance,
        steps=_steps(steps, calls),
        calls=calls,
        decision=records.decision(),
        rule=rule,
        why=why,
        criteria=list(spec.acceptance_criteria) if spec else [],
        plan=records.newest(Plan),
        summary=done.summary if done else None,
        review=records.newest(Review),
        tests=ran[-1] if ran else records.newest(Tested),
        gates=records.gates(),
        journeys=_journeys(state_dir, records),
        validator=validator.by_criterion() if validator else None,
        checked=validator,
        shots=_shots(state_dir, validator),
        refused=[
            (step.step_id, who)
            for step, found in records.every(HoldoutRun)
            for who in (found.validator.refused if found.validator is not None else [])
        ],
        pr=records.pr(),
        merge=records.newest(Landing),
        reverted=smoke.reverted if smoke else None,
        network=network_lines(records),
        diagnosed=records.newest(Diagnosis),
        blame=records.newest(Blame),
        healed=records.newest(Healed),
        evidence=_evidence(state_dir, records, run),
        suite_runs=suites,
        chosen=chosen,
        agent_tests=AgentTests(len(whole) - sum(whole), sum(whole)),
        change=change.title if change else None,
        diff=change.text if change else None,
    )


def _call(row: CallRow) -> Call:
    cached = row["cache_read_input_tokens"] + row["cache_creation_input_tokens"]
    return Call(
        step=row["step_id"],
        at=row["ts"],
        model=row["model"],
        input_tokens=row["input_tokens"] + cached,
        output_tokens=row["output_tokens"],
        duration_s=row["duration_s"],
        stop=row["stop_reason"] or row["error"] or "",
        cost_usd=row["cost_usd"],
    )


def _steps(steps: list[StepRecord], calls: list[Call]) -> list[StepLine]:
    """Each step, what its model calls cost counted once, on its first attempt's line."""
    by_step: dict[str, list[Call]] = {}
    for call in calls:
        by_step.setdefault(call.step, []).append(call)
    return [
        StepLine(
            s.step_id,
            s.attempt,
            s.status,
            s.started_at,
            s.finished_at,
            s.duration_s,
            s.model_s,
            s.subprocess_s,
            s.error,
            s.outputs,
            spent=Spent.of(by_step.pop(s.step_id, [])),  # a retried step's: on its first line
        )
        for s in steps
    ]


def _said(records: RunRecords, run: Run) -> tuple[str | None, str | None]:
    """The rule and reason the code gave (triage's or validation's, newest), else the run's."""
    spec = records.judged()
    routed = records.every(Routing)
    said = [(step.seq, found.reason) for step, found in spec if found.reason]
    said += [(step.seq, found.reason) for step, found in routed if found.reason]
    reason = max(said)[1] if said else run.reason
    return (spec[-1][1].rule if spec else None), reason


def _journeys(state_dir: Path, records: RunRecords) -> list[Journey]:
    """The journeys this run ran (a result kept from an earlier run is that run's)."""
    return [
        Journey(step.step_id, j, evidence_url(state_dir, j.screenshot))
        for step, found in records.every(HoldoutRun)
        if not _earlier(found)
        for j in found.journeys
    ]


def _shots(state_dir: Path, validator: ValidatorRun | None) -> list[Shot]:
    shots = validator.shots if validator else []
    return [Shot(Path(p).name, url) for p in shots if (url := evidence_url(state_dir, p))]


def _evidence(state_dir: Path, records: RunRecords, run: Run) -> list[str]:
    """Where its screenshots (the newest of its own) and its transcripts are kept."""
    runs = [found for _, found in records.every(HoldoutRun) if not _earlier(found)]
    shots = next((found.shots_dir for found in reversed(runs) if found.shots_dir), None)
    kept = (shots, str(state_dir / "transcripts" / run.id))
    return [path for path in kept if path and Path(path).exists()]


def network_lines(records: RunRecords) -> list[str]:
    """Every step that ran ``commands.setup`` in this run: its connections (allowed and
    refused, host, port, bytes); a result kept from an earlier run made none."""
    lines: list[str] = []
    for step, found in records.found:
        kinds = (SetupRun, HoldoutRun, Health)
        if not isinstance(found, kinds) or found.network is None or _earlier(found):
            continue
        first, *rest = found.network.lines()
        lines += [f"{first} — step {step.step_id}", *rest]
    return lines


def _earlier(found: Artifact) -> bool:
    """A result kept from an earlier run: that run's journeys and connections, not this one's."""
    return isinstance(found, (Baseline, Health)) and found.cached


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
    """The dashboard's page of a run: its report and its agents' transcripts."""

    report: RunReport
    transcripts: list[Transcript]


def _text(value: object) -> str:
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
    store = services.store
    state_dir = services.settings.state_dir
    run = store.get_run(run_id)
    folder = state_dir / "transcripts" / run.id
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    report = run_report(store, state_dir, run, services.clock(), services.repo)
    return RunPage(report, [read_transcript(p) for p in files])


@dataclass(frozen=True)
class Healing:
    """The Health page: production's last green commit, as the health runs recorded it, and
    the newest heals, each with what it diagnosed, blamed and did."""

    green: Health | None
    heals: list[RunReport]


def healing(services: Services) -> Healing:
    store = services.store
    heals = store.list_runs(limit=20, workflow="heal")
    state_dir = services.settings.state_dir
    reports = [run_report(store, state_dir, run, services.clock()) for run in heals]
    return Healing(store.latest_artifact(Health, None), reports)
