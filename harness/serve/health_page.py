"""The dashboard's Health page: production's last green commit, and each heal of a red one
(docs/heal.md): what failed, the culprit the bisect named, what was done. Read-only: the
dashboard shows it (``Dashboard.showing``)."""

from __future__ import annotations

from typing import NamedTuple

from harness.artifacts import Blame, Diagnosis, Healed, Health
from harness.engine.context import Services
from harness.engine.records import RunRecords
from harness.store.records import Run


class HealRow(NamedTuple):
    """A heal run, with what it diagnosed, blamed and did (None: it did not get so far)."""

    run: Run
    diagnosis: Diagnosis | None
    blame: Blame | None
    healed: Healed | None


def newest_green(services: Services) -> Health | None:
    """Production's last green commit, as the health runs recorded it."""
    return services.store.latest_artifact(Health, None)


def heal_rows(services: Services) -> list[HealRow]:
    """The newest heal runs, each with what it diagnosed, blamed and did."""
    store = services.store
    heals = []
    for run in store.list_runs(limit=20, workflow="heal"):
        records = RunRecords(store.steps(run.id))
        heals.append(
            HealRow(run, records.newest(Diagnosis), records.newest(Blame), records.newest(Healed))
        )
    return heals
