"""A run as every list shows it — ``factory runs`` (``--json`` too), the runs ``factory
status`` names, MCP's ``runs``, the dashboard's run tables — read from the store once per
list: its costs and outcomes in one query each. Nothing here needs a validation library, so
``factory runs`` starts without one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from harness.store.outcomes import ended

if TYPE_CHECKING:
    from harness.store.db import Store
    from harness.store.records import Run

PAGE_SIZE = 100  # rows on a page of runs, and of each state's issues in the queue


@dataclass(frozen=True)
class RunLine:
    """A run: what became of its work (``outcome``, harness/store/outcomes.py: a refused
    change never reads "succeeded"), its cost and tokens (cached input too), the step it is
    at and how long it took (``elapsed_s``: until now while it runs)."""

    id: str
    workflow: str
    issue: int | None
    status: str
    outcome: str | None
    started_at: str
    finished_at: str | None
    cost_usd: float
    input_tokens: int
    output_tokens: int
    reason: str | None  # the run's, else the reason its route was given
    current_step: str | None
    elapsed_s: float

    @property
    def shown(self) -> str:
        """Its word in a table or a line: its outcome, else its own status."""
        return self.outcome or self.status

    def cells(self) -> tuple[object, ...]:
        """Its row on a terminal: 80 columns hold it (the month's day and the time it
        started; ``--json`` has the year)."""
        from harness.reports.text import money, took

        return (
            self.id,
            self.workflow,
            "" if self.issue is None else self.issue,
            self.shown,
            self.started_at[5:16].replace("T", " "),
            took(self.elapsed_s) if self.finished_at else "",
            money(self.cost_usd),
            f"{self.input_tokens}/{self.output_tokens}",
        )


def run_lines(store: Store, runs: list[Run], now: float) -> list[RunLine]:
    """``runs`` as the lists show them, at the time ``now``."""
    totals = store.runs_totals([run.id for run in runs])
    outcomes = store.run_outcomes([(run.id, run.workflow, run.status) for run in runs])
    return [
        RunLine(
            id=run.id,
            workflow=run.workflow,
            issue=run.issue,
            status=run.status,
            outcome=ended(outcomes[run.id][0], run.status, run.reason),
            started_at=run.started_at,
            finished_at=run.finished_at,
            cost_usd=round(totals[run.id]["cost_usd"], 6),
            input_tokens=int(totals[run.id]["input_tokens"]),
            output_tokens=int(totals[run.id]["output_tokens"]),
            reason=run.reason or outcomes[run.id][1],
            current_step=run.current_step,
            elapsed_s=_elapsed_s(run, now),
        )
        for run in runs
    ]


def _elapsed_s(run: Run, now: float) -> float:
    """Until it ended, else until ``now`` (the store writes its times in UTC)."""
    end = datetime.fromisoformat(run.finished_at).timestamp() if run.finished_at else now
    return max(0.0, end - datetime.fromisoformat(run.started_at).timestamp())


@dataclass(frozen=True)
class RunFilters:
    workflow: str | None
    status: str | None
    issue: int | None
    day: str | None  # YYYY-MM-DD (UTC)
    page: int  # 1: the newest PAGE_SIZE runs that match, 2: the next ones, …


def runs_page(store: Store, filters: RunFilters, now: float) -> list[RunLine]:
    """One page of the runs that match, newest first: by index, however many there are."""
    runs = store.list_runs(
        limit=PAGE_SIZE,
        workflow=filters.workflow,
        issue=filters.issue,
        status=filters.status,
        day=filters.day,
        offset=(max(filters.page, 1) - 1) * PAGE_SIZE,
    )
    return run_lines(store, runs, now)
