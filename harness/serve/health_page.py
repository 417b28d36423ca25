"""The dashboard's Health page: production's last green commit, and each heal of a red one
(docs/heal.md): what failed, the culprit the bisect named, what was done. Read-only."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from harness.artifacts import Blame, Diagnosis, Healed, Health
from harness.engine.context import Services
from harness.engine.records import RunRecords
from harness.serve.backtest_page import Pages


def health_view(services: Services) -> dict[str, Any]:
    store = services.store
    heals = []
    for run in store.list_runs(limit=20, workflow="heal"):
        records = RunRecords(store.steps(run.id))
        diagnosis, blame, healed = (records.newest(k) for k in (Diagnosis, Blame, Healed))
        heals.append({"run": run, "diagnosis": diagnosis, "blame": blame, "healed": healed})
    return {"green": store.latest_artifact(Health, None), "heals": heals}


async def health_page(board: Pages, request: Request, session: Any) -> Response:
    view = await run_in_threadpool(health_view, board.services)
    return board.page("health.html", session, **view)
