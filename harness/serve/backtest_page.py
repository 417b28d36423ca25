"""The dashboard's Backtest page: the newest ``factory backtest`` of this state, its summary
and its cases (``harness/backtest``); its Lessons page: the lessons with their citations, and
the proposals with their rehearsals (``harness/lessons``). Read-only: both are started from
the command line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from harness.backtest.report import summarise
from harness.engine.context import Services
from harness.lessons.evidence import lessons, proposals
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


class Pages(Protocol):
    """What the page needs of the dashboard: its services, and a page rendered for a
    session (``harness.serve.app.Dashboard``)."""

    services: Services

    def page(self, name: str, session: Any, **data: Any) -> HTMLResponse: ...


async def backtest_page(board: Pages, request: Request, session: Any) -> Response:
    view = await run_in_threadpool(backtest_view, board.services)
    return board.page("backtest.html", session, view=view)


async def lessons_page(board: Pages, request: Request, session: Any) -> Response:
    found = await run_in_threadpool(lambda: (lessons(board.services), proposals(board.services)))
    return board.page("lessons.html", session, lessons=found[0], proposals=found[1])
