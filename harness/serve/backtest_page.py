"""The dashboard's Backtest page: the newest ``factory backtest`` of this state, its summary
and its cases (``harness/backtest``). Read-only: a backtest is started from the command line;
the dashboard shows it (``Dashboard.showing``), as it shows the Lessons page (the lessons with
their citations, and the proposals with their rehearsals, ``harness/lessons``)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.backtest.report import CaseRow, Summary, summarise
from harness.engine.context import Services
from harness.store.backtests import BacktestCase, BacktestRecord


@dataclass(frozen=True)
class BacktestView:
    record: BacktestRecord
    rows: list[CaseRow]
    summary: Summary


def _row(case: BacktestCase) -> CaseRow:
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


def backtest_view(services: Services) -> BacktestView | None:
    """The newest backtest (finished or not) with a row per case."""
    store = services.store
    record = store.latest_backtest()
    if record is None:
        return None
    rows = [_row(case) for case in store.backtest_cases(record.id)]
    finished = record.status == "finished"
    summary = Summary.model_validate(record.summary) if finished else summarise(rows)
    return BacktestView(record, rows, summary)
