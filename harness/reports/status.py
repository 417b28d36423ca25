"""How the factory stands, read once from the store: ``Status`` — the kill switch, the runs
by status and by outcome, what runs and what finished last, spend, earned trust per kind,
the Autonomy Index and the models at work (``factory status``, ``--json`` too, MCP's
``status``, the dashboard's Now page and trust panel); the Trends page's series. The Health
page's heals are runs' reports: ``harness/reports/report.py``'s ``healing``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from harness.engine.budget import start_of_day
from harness.engine.killswitch import stopped_by
from harness.errors import FactoryError
from harness.reports.charts import Chart, bars, hbars, line
from harness.reports.runs import RunLine, run_lines
from harness.review.autonomy import AutonomyIndex, autonomy_index_for, autonomy_series
from harness.review.trust import TrustState, configured_states
from harness.store.records import TierRow

if TYPE_CHECKING:
    from harness.config.settings import Settings
    from harness.engine.context import Services
    from harness.store.db import Store


@dataclass(frozen=True)
class Status:
    stopped: bool
    stop_reason: str | None
    runs: dict[str, int]  # every run that does work, by status
    outcomes: dict[str, int]  # the newest 100 runs, by the word a reader sees of each
    running: list[RunLine]
    recent: list[RunLine]  # the newest of the 10 latest runs that are not running
    spend_today_usd: float
    spend_total_usd: float
    cap_usd: float | None  # the rules' per_day_usd (None: they could not be read)
    autonomy_index: AutonomyIndex
    trust: list[TrustState]
    trust_error: str | None  # why the rules could not be read
    models: list[TierRow]  # attempts and merges per kind, role and model

    @property
    def switch(self) -> str:
        return f"ENGAGED ({self.stop_reason})" if self.stopped else "off"

    @property
    def total_runs(self) -> int:
        return sum(self.runs.values())

    @property
    def by_outcome(self) -> str:
        """The outcomes, the most frequent first."""
        counted = sorted(self.outcomes.items(), key=lambda kv: (-kv[1], kv[0]))
        return ", ".join(f"{word} {n}" for word, n in counted) or "none"


def status(store: Store, settings: Callable[[], Settings], now: float, days: int = 30) -> Status:
    """How the factory stands at ``now``; ``settings``: the rules earned trust and the budget
    are read from (``status`` reads no mission, and says why when they cannot be read)."""
    try:
        read = settings()
        trust = configured_states(store, read)
    except FactoryError as exc:
        read = None
        trust = []
        error: str | None = str(exc).replace("\n", " ")
    else:
        error = None
    stopped = stopped_by(store)
    recent = [r for r in store.list_runs(limit=10) if r.status != "running"]
    return Status(
        stopped=stopped is not None,
        stop_reason=stopped,
        runs=store.run_counts(),
        outcomes=store.outcome_counts(),
        running=run_lines(store, store.list_runs(limit=None, status="running"), now),
        recent=run_lines(store, recent, now),
        spend_today_usd=round(store.spend(since=start_of_day(time.time())), 6),
        spend_total_usd=round(store.spend(), 6),
        cap_usd=read.governance.rules.budgets.per_day_usd if read else None,
        autonomy_index=autonomy_index_for(store, days, now),
        trust=trust,
        trust_error=error,
        models=store.tier_success(),
    )


@dataclass(frozen=True)
class Trends:
    days: list[str]
    merges: list[int]
    refusals: dict[str, int]
    cost_per_merge: list[float]
    autonomy: list[float | None]
    models: list[TierRow]  # per kind, role and model, over the days

    @property
    def total_merges(self) -> int:
        return sum(self.merges)

    @property
    def total_refusals(self) -> int:
        return sum(self.refusals.values())

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


def trends(services: Services) -> Trends:
    """The 30 days up to today, the oldest first (the charts' titles say 30)."""
    store = services.store
    today = datetime.fromtimestamp(services.clock(), UTC).date()
    labels = [(today - timedelta(days=n)).isoformat() for n in reversed(range(30))]
    daily = store.daily_merges(labels[0])
    return Trends(
        days=labels,
        merges=[daily.get(d, (0, 0.0))[0] for d in labels],
        refusals=dict(sorted(store.refusals(labels[0]).items(), key=lambda kv: (-kv[1], kv[0]))),
        cost_per_merge=[daily.get(d, (0, 0.0))[1] for d in labels],
        autonomy=autonomy_series(store, labels, 30),
        models=store.tier_success(labels[0]),
    )
