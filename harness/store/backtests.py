"""Rehearsals (``factory backtest``) as the factory's own state keeps them: each backtest and
its cases with their results (the runs a case made live in a scratch state of their own)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.store.base import StoreBase, from_row, loads, stored, utc_now

# Leases name issues by number; -2 names "the backtest": one at a time on a state, so no
# case is rehearsed (and paid for) twice by two processes.
BACKTEST_LEASE = -2


@dataclass(frozen=True)
class BacktestRecord:
    """One ``factory backtest``: its cases' fingerprint (a re-run of the same cases with the
    same governance resumes an unfinished one), the governance commit it used, whether that
    was a rehearsed edit (``--governance``), and its summary once finished."""

    id: str
    fingerprint: str
    governance: str
    edit: bool
    source: str
    status: str  # running | finished
    started_at: str
    finished_at: str | None
    summary: dict[str, Any]


@dataclass(frozen=True)
class BacktestCase:
    """One case of a backtest: ``result`` is the report's row once ``status`` is ``done``;
    ``cost_usd`` and ``seconds`` grow as its stages end (a resumed case goes on counting)."""

    backtest_id: str
    case_id: str
    position: int
    case_key: str
    status: str  # pending | running | done
    result: dict[str, Any]
    cost_usd: float
    seconds: float
    updated_at: str | None
    finished_at: str | None


def _backtest(row: Any) -> BacktestRecord | None:
    """The backtest of ``row`` (None: no row)."""
    if row is None:
        return None
    return from_row(BacktestRecord, row, json=("summary",), edit=bool(row["edit"]))


class BacktestsMixin(StoreBase):
    def create_backtest(
        self,
        backtest_id: str,
        fingerprint: str,
        governance: str,
        edit: bool,
        source: str,
        cases: list[tuple[str, str]],
    ) -> None:
        """A new backtest of ``cases`` ((case id, case key), in report order), all pending."""
        now = utc_now()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO backtests (id, fingerprint, governance, edit, source, status,"
                " started_at) VALUES (?, ?, ?, ?, ?, 'running', ?)",
                (backtest_id, fingerprint, governance, int(edit), source, now),
            )
            db.executemany(
                "INSERT INTO backtest_cases (backtest_id, case_id, position, case_key, status)"
                " VALUES (?, ?, ?, ?, 'pending')",
                [(backtest_id, cid, i, key) for i, (cid, key) in enumerate(cases)],
            )

    def unfinished_backtest(self, fingerprint: str) -> BacktestRecord | None:
        """The newest backtest of exactly these cases and governance that did not finish."""
        row = self._row(
            "SELECT * FROM backtests WHERE fingerprint = ? AND status = 'running'"
            " ORDER BY started_at DESC, rowid DESC LIMIT 1",
            (fingerprint,),
        )
        return _backtest(row)

    def backtest(self, backtest_id: str) -> BacktestRecord | None:
        row = self._row("SELECT * FROM backtests WHERE id = ?", (backtest_id,))
        return _backtest(row)

    def latest_backtest(
        self, finished: bool = False, edit: bool | None = None
    ) -> BacktestRecord | None:
        """The newest backtest (only a finished one with ``finished``; only a rehearsed edit,
        or only one on production's governance, with ``edit``)."""
        filters, args = self._where(
            ("status = 'finished'", () if finished else None),
            ("edit = ?", None if edit is None else int(edit)),
        )
        newest = " ORDER BY started_at DESC, rowid DESC LIMIT 1"
        row = self._row("SELECT * FROM backtests" + filters + newest, args)
        return _backtest(row)

    def backtest_cases(self, backtest_id: str) -> list[BacktestCase]:
        rows = self._rows(
            "SELECT * FROM backtest_cases WHERE backtest_id = ? ORDER BY position", (backtest_id,)
        )
        return [from_row(BacktestCase, r, json=("result",)) for r in rows]

    def case_progress(
        self, backtest_id: str, case_id: str, cost_usd: float, seconds: float
    ) -> None:
        """A case is under way: what it spent and how long it took so far."""
        self._write(
            "UPDATE backtest_cases SET status = 'running', cost_usd = ?, seconds = ?,"
            " updated_at = ? WHERE backtest_id = ? AND case_id = ? AND status != 'done'",
            (cost_usd, seconds, utc_now(), backtest_id, case_id),
        )

    def finish_case(
        self,
        backtest_id: str,
        case_id: str,
        result: dict[str, Any],
        cost_usd: float,
        seconds: float,
    ) -> None:
        now = utc_now()
        self._write(
            "UPDATE backtest_cases SET status = 'done', result = ?, cost_usd = ?, seconds = ?,"
            " updated_at = ?, finished_at = ? WHERE backtest_id = ? AND case_id = ?",
            (stored(result), cost_usd, seconds, now, now, backtest_id, case_id),
        )

    def finish_backtest(self, backtest_id: str, summary: dict[str, Any]) -> None:
        self._write(
            "UPDATE backtests SET status = 'finished', summary = ?, finished_at = ? WHERE id = ?",
            (stored(summary), utc_now(), backtest_id),
        )

    def earlier_result(self, case_key: str, backtest_id: str) -> tuple[str, dict[str, Any]] | None:
        """(backtest id, result) of the newest finished case with the same key in a backtest
        that started before ``backtest_id``: what a rehearsal is compared with."""
        row = self._row(
            "SELECT c.backtest_id, c.result FROM backtest_cases c"
            " JOIN backtests b ON b.id = c.backtest_id"
            " WHERE c.case_key = ? AND c.status = 'done' AND c.backtest_id != ?"
            " AND b.rowid < (SELECT rowid FROM backtests WHERE id = ?)"
            " ORDER BY b.rowid DESC LIMIT 1",
            (case_key, backtest_id, backtest_id),
        )
        return (str(row["backtest_id"]), loads(row["result"])) if row is not None else None
