"""The dashboard's Health page: production's last green commit, and each heal of a red one
(docs/heal.md): what failed, the culprit the bisect named, what was done. Read-only: the
dashboard shows it (``Dashboard.showing``)."""

from __future__ import annotations

from typing import Any

from harness.artifacts import Blame, Diagnosis, Healed, Health
from harness.engine.context import Services
from harness.engine.records import RunRecords


def newest_green(services: Services) -> Health | None:
    """Production's last green commit, as the health runs recorded it."""
    return services.store.latest_artifact(Health, None)


def heal_rows(services: Services) -> list[dict[str, Any]]:
    """The newest heal runs, each with what it diagnosed, blamed and did."""
    store = services.store
    heals = []
    for run in store.list_runs(limit=20, workflow="heal"):
        records = RunRecords(store.steps(run.id))
        diagnosis, blame, healed = (records.newest(k) for k in (Diagnosis, Blame, Healed))
        heals.append({"run": run, "diagnosis": diagnosis, "blame": blame, "healed": healed})
    return heals
