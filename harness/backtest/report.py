"""A backtest's report: one row per case, the summary, and what changed since the last
backtest of the same cases (a rehearsed governance edit shows which decisions it moves).
Each is a record, read from the store where it enters and written as JSON where it leaves
(the store, ``--json``, the dashboard and ``factory mcp``): its keys in the order a reader
wants them (the store keeps them sorted), a key that is None left out where it says so. The
newest backtest as the Backtest page and MCP's ``backtest_summary`` show it:
``BacktestView``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import ConfigDict, Field

from harness.backtest.cases import Case
from harness.backtest.grade import Graded
from harness.backtest.rehearse import Became, Judged
from harness.checked import Evolving
from harness.store.backtests import BacktestCase
from harness.store.db import Store

# the decisions a governance edit may change, compared case by case
DECISIONS = ("triage", "route", "trust_held")
T = TypeVar("T")
# a key the JSON leaves out while it is None (a row rehearsed with no error has no "error")
Absent = Annotated[T | None, Field(exclude_if=lambda value: value is None)]


class _Record(Evolving):
    model_config = ConfigDict(frozen=True)


class Change(_Record):
    """A decision that differs from the earlier rehearsal of the same case."""

    field: str
    before: str | bool | None
    after: str | bool | None


class CaseRow(_Record):
    """A case's row: what the factory decided (``triage``, ``kind``, ``route``,
    ``trust_held``, the validator's verdict), whether the hidden tests pass on what it
    implemented (``resolved``, ``graded``; None when nothing can be told), what it cost and
    why; ``changed`` and ``compared_with`` once an earlier backtest rehearsed the case."""

    id: str
    issue: int | None
    title: str
    status: str  # done | unfinished
    # what was decided: nothing, by default (a case not rehearsed, or one that could not be)
    triage: str | None = None
    kind: str | None = None
    route: str | None = None
    trust_held: bool = False
    resolved: bool | None
    inconclusive: bool = False  # (a row stored before it was said)
    validator: Judged | None = None
    suite_runs: Absent[int] = None  # none: not rehearsed
    cost_usd: float
    seconds: float = 0.0  # until the case ends (the runner says how long it took)
    reason: str
    changed: Absent[list[Change]] = None
    compared_with: Absent[str] = None
    base: str
    fix: str
    hidden_tests: list[str]
    graded: Graded | None = None
    error: Absent[str] = None  # it could not be rehearsed

    @property
    def route_shown(self) -> str:
        route = self.route or ""
        return f"{route} (trust: a person reviews)" if route and self.trust_held else route

    @property
    def resolved_shown(self) -> str:
        """yes, no, inconclusive, or — (nothing can be told: unproven, or not attempted)."""
        if self.inconclusive:
            return "inconclusive"
        return {True: "yes", False: "no", None: "—"}[self.resolved]

    @property
    def validator_shown(self) -> str:
        return f"{self.validator.verdict} {self.validator.score:.2f}" if self.validator else ""

    @property
    def changed_shown(self) -> str:
        return "; ".join(f"{c.field}: {c.before} → {c.after}" for c in self.changed or [])


class Summary(_Record):
    """``would_merge``: validation's gates would have merged it; a false merge would merge
    and is not resolved; a missed one is resolved and would not merge; an unproven one was
    graded by hidden tests that pass on the fix's parent too (neither resolved nor not)."""

    cases: int
    finished: int
    accepted: int
    resolved: int
    would_merge: int
    false_merges: int
    missed: int
    unproven: int = 0  # (a summary stored before they were counted)
    inconclusive: int = 0
    cost_usd: float
    cost_per_resolved_usd: float | None
    seconds: float
    compared_with: Absent[list[str]] = None  # the earlier backtests its rows are compared with
    changed: Absent[int] = None  # rows whose decisions changed since

    def line(self) -> str:
        """The summary on one line, as ``factory backtest`` prints it under its table."""
        said = (
            f"{self.cases} cases ({self.finished} finished): {self.accepted} accepted, "
            f"{self.resolved} resolved, {self.would_merge} would merge, {self.false_merges} "
            f"false merges, {self.missed} missed, {self.unproven} unproven, "
            f"{self.inconclusive} inconclusive; ${self.cost_usd:.4f}"
        )
        if self.cost_per_resolved_usd is not None:
            said += f", ${self.cost_per_resolved_usd:.4f} per resolved case"
        if self.changed is not None:
            said += f"; {self.changed} changed since {', '.join(self.compared_with or [])}"
        return said


class BacktestReport(_Record):
    """What ``factory backtest --json`` prints: ``stopped`` when the kill switch or a budget
    stopped it."""

    backtest: str
    governance: str
    rehearsed_edit: bool
    source: str
    cases: list[CaseRow]
    summary: Summary
    stopped: Absent[str] = None


def _row(case: Case, **decided: Any) -> CaseRow:
    """``case``'s row: its fields and hidden tests, and what was ``decided`` of it."""
    fields = case.model_dump(include={"id", "issue", "title", "base", "fix"})
    return CaseRow(**fields, hidden_tests=list(case.tests), **decided)


UNPROVEN = (
    "the hidden tests pass on the fix's parent too, so they prove nothing here: "
    "commands.test does not run them, or they do not test what the fix changed"
)
UNRUN = (
    "no hidden test ran on the graded tree: the fix brings none, or none can be run by name "
    "(commands.test_files), or the runner said none ran"
)


INCONCLUSIVE = "the suite did not finish within its time limit, twice: no evidence either way"


def case_row(case: Case, became: Became, graded: Graded | None, cost: float) -> CaseRow:
    """A finished case: what the factory decided, and whether the hidden tests pass on what
    it implemented (``resolved``; false when it implemented nothing). Null when nothing can
    be told: the hidden tests pass on the fix's parent as well (the grade is no evidence),
    triage did not accept it (nothing was attempted), or the case is ``inconclusive`` (the
    suite's time limit, or the factory's own model, forge or sandbox failed)."""
    resolved: bool | None = bool(graded and graded.resolved)
    inconclusive = graded.inconclusive if graded else became.inconclusive
    unknown = UNPROVEN if graded and graded.fails_before is False else None
    if graded and graded.exit_code is not None and not graded.hidden_ran:
        unknown = UNRUN  # never resolved: nothing shows the fix's tests pass on it
    if became.triage not in (None, "accept"):
        unknown = f"stopped at triage ({became.triage}): nothing was attempted"
    unknown = INCONCLUSIVE if inconclusive else unknown
    if became.broke:  # no result: the factory could not rehearse it
        inconclusive = True
        unknown = f"inconclusive: {became.broke}"
    reason = became.reason
    if unknown:
        resolved = None
        reason = f"{reason}; {unknown}" if reason else unknown
    return _row(
        case,
        status="done",
        triage=became.triage,
        kind=became.kind,
        route=became.route,
        trust_held=became.trust_held,
        resolved=resolved,
        inconclusive=inconclusive,
        validator=became.validator,
        suite_runs=became.suite_runs + (graded.suite_runs if graded else 0),
        cost_usd=round(cost, 6),
        reason=reason,
        graded=graded,
        error=became.broke,
    )


def not_rehearsed(
    case: Case, status: str, reason: str, cost: float, seconds: float, error: str | None = None
) -> CaseRow:
    """A case with no decision to show, and why (``error``: it could not be rehearsed)."""
    return _row(
        case,
        status=status,
        reason=reason,
        resolved=None,
        inconclusive=bool(error),  # it could not be rehearsed: nothing can be told of it
        error=error,
        cost_usd=round(cost, 6),
        seconds=round(seconds, 1),
    )


def error_row(case: Case, error: str, cost: float) -> CaseRow:
    """A case that could not be rehearsed (its commits could not be rebuilt, say)."""
    return not_rehearsed(case, "done", error, cost, 0.0, error)


def unfinished_row(case: Case, row: BacktestCase) -> CaseRow:
    why = "not rehearsed yet" if row.status == "pending" else "under way when it stopped"
    return not_rehearsed(case, "unfinished", why, row.cost_usd, row.seconds)


def changes(now: CaseRow, before: CaseRow) -> list[Change]:
    """The decisions that differ from an earlier rehearsal of the same case."""
    return [
        Change(field=name, before=getattr(before, name), after=getattr(now, name))
        for name in DECISIONS
        if getattr(before, name) != getattr(now, name)
    ]


def summarise(rows: list[CaseRow]) -> Summary:
    """The rows counted (``Summary``), and the earlier backtests they are compared with."""
    done = [r for r in rows if r.status == "done"]
    compared = sorted({r.compared_with for r in rows if r.compared_with})
    resolved = sum(r.resolved is True for r in done)
    cost = sum(r.cost_usd for r in rows)
    return Summary(
        cases=len(rows),
        finished=len(done),
        accepted=sum(r.triage == "accept" for r in done),
        resolved=resolved,
        would_merge=sum(r.route == "merge" for r in done),
        false_merges=sum(r.route == "merge" and r.resolved is False for r in done),
        missed=sum(r.resolved is True and r.route != "merge" for r in done),
        unproven=sum(
            r.resolved is None and not r.inconclusive and r.triage == "accept" for r in done
        ),
        inconclusive=sum(r.inconclusive for r in done),
        cost_usd=round(cost, 6),
        cost_per_resolved_usd=round(cost / resolved, 6) if resolved else None,
        seconds=round(sum(r.seconds for r in rows), 1),
        compared_with=compared or None,
        changed=sum(bool(r.changed) for r in rows) if compared else None,
    )


@dataclass(frozen=True)
class BacktestView:
    """The newest ``factory backtest`` (finished or not): its summary and a row per case."""

    backtest: str
    status: str  # running | finished
    source: str
    governance: str
    edit: bool  # a rehearsed governance edit
    started_at: str
    summary: Summary
    cases: list[CaseRow]


def backtest_view(store: Store) -> BacktestView | None:
    record = store.latest_backtest()
    if record is None:
        return None
    rows = [_case_row(case) for case in store.backtest_cases(record.id)]
    finished = record.status == "finished"
    summary = Summary.model_validate(record.summary) if finished else summarise(rows)
    return BacktestView(
        record.id,
        record.status,
        record.source,
        record.governance,
        record.edit,
        record.started_at,
        summary,
        rows,
    )


def _case_row(case: BacktestCase) -> CaseRow:
    """A case's row: its result once done, else what the store knows of it (the commits of
    its key, what it spent so far) and nothing decided."""
    if case.status == "done":
        return CaseRow.model_validate(case.result)
    _, base, fix = case.case_key.rsplit(":", 2)
    return CaseRow(
        id=case.case_id,
        status="unfinished",
        reason="not rehearsed yet" if case.status == "pending" else "under way",
        issue=None,
        title="",
        resolved=False,
        cost_usd=case.cost_usd,
        seconds=case.seconds,
        base=base,
        fix=fix,
        hidden_tests=[],
    )
