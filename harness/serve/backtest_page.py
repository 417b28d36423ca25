"""The dashboard's Backtest page: the newest ``factory backtest`` of this state, its summary
and its cases (``harness/backtest``). Read-only: a backtest is started from the command line;
the dashboard shows it (``Dashboard.showing``), as it shows the Lessons page (the lessons with
their citations, and the proposals with their rehearsals, ``harness/lessons``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.backtest.report import summarise
from harness.engine.context import Services
from harness.store.backtests import BacktestRecord


@dataclass(frozen=True)
class BacktestView:
    record: BacktestRecord
    rows: list[dict[str, Any]]
    summary: dict[str, Any]


def backtest_view(services: Services) -> BacktestView | None:
    """The newest backtest (finished or not) with a row per case: its result once done."""
    store = services.store
    record = store.latest_backtest()
    if record is None:
        return None
    rows: list[dict[str, Any]] = []
    for case in store.backtest_cases(record.id):
        if case.status == "done":
            rows.append(dict(case.result))
            continue
        rows.append(
            {
                "id": case.case_id,
                "status": "unfinished",
                "reason": "not rehearsed yet" if case.status == "pending" else "under way",
                "resolved": False,
                "triage": None,
                "route": None,
                "cost_usd": case.cost_usd,
                "seconds": case.seconds,
            }
        )
    summary = record.summary if record.status == "finished" else summarise(rows)
    return BacktestView(record, rows, summary)
