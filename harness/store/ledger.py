"""Model calls and spend, the hash-chained event log, and flags (the kill switch)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

from harness.digest import sha256
from harness.store.base import StoreBase, dumps, from_row, stored, stored_text, utc_now
from harness.store.records import CallRow, Event

if TYPE_CHECKING:
    from harness.model.base import CallRecord

GENESIS = "0" * 64


def event_hash(prev: str, run_id: str | None, ts: str, kind: str, data: str) -> str:
    return sha256(dumps([prev, run_id, ts, kind, data]))


def chain(db: sqlite3.Connection, run_id: str | None, kind: str, payload: str) -> None:
    """Append one event (its stored ``payload``) to the hash chain, in the caller's transaction."""
    last = db.execute("SELECT hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
    prev = last[0] if last else GENESIS
    ts = utc_now()
    db.execute(
        "INSERT INTO events (run_id, ts, kind, data, prev_hash, hash) VALUES (?,?,?,?,?,?)",
        (run_id, ts, kind, payload, prev, event_hash(prev, run_id, ts, kind, payload)),
    )


def first_break(db: sqlite3.Connection) -> int | None:
    """The id of the first event that does not follow from the one before it — altered,
    removed or put out of order since it was written — or None: the chain holds (events cut
    from its end leave no trace in it)."""
    prev = GENESIS
    for event, run_id, ts, kind, data, prev_hash, own in db.execute(
        "SELECT id, run_id, ts, kind, data, prev_hash, hash FROM events ORDER BY id"
    ):
        if prev_hash != prev or own != event_hash(prev, run_id, ts, kind, data):
            return int(event)
        prev = own
    return None


class LedgerMixin(StoreBase):
    # -- model calls ----------------------------------------------------------
    def record_call(self, run_id: str, step_id: str, record: CallRecord) -> None:
        u = record.usage
        self._write(
            "INSERT INTO model_calls (run_id, step_id, ts, model, input_tokens, output_tokens,"
            " cache_creation_input_tokens, cache_read_input_tokens, cost_usd, duration_s,"
            " request_sha256, stop_reason, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                run_id,
                step_id,
                utc_now(),
                record.model,
                u.input_tokens,
                u.output_tokens,
                u.cache_creation_input_tokens,
                u.cache_read_input_tokens,
                record.cost_usd,
                record.duration_s,
                record.request_sha256,
                record.stop_reason,
                stored_text(record.error),
            ),
        )

    def calls(self, run_id: str) -> list[CallRow]:
        rows = self._rows("SELECT * FROM model_calls WHERE run_id = ? ORDER BY id", (run_id,))
        return [cast(CallRow, dict(r)) for r in rows]

    def spend(
        self, run_id: str | None = None, issue: int | None = None, since: str | None = None
    ) -> float:
        """USD spent, filtered by run, by issue (through its runs) and by time. Not filtered
        by run or issue (all spend, or a day's), it counts what rehearsals spent too
        (``factory backtest``): one wallet, one per-day budget."""
        filters, args = self._where(
            ("c.run_id = ?", run_id),
            ("c.run_id IN (SELECT id FROM runs WHERE issue = ?)", issue),
            ("c.ts >= ?", since),
        )
        sql = "SELECT COALESCE(SUM(c.cost_usd), 0) FROM model_calls c" + filters
        if run_id is None and issue is None:
            rehearsed, more = self._where(("updated_at >= ?", since))
            rehearsed = "SELECT COALESCE(SUM(cost_usd), 0) FROM backtest_cases" + rehearsed
            sql, args = f"SELECT ({sql}) + ({rehearsed})", args + more
        row = self._row(sql, args)
        return float(row[0]) if row else 0.0

    def run_totals(self, run_id: str) -> dict[str, float]:
        """Cost and tokens of a run; ``input_tokens`` counts cached and uncached input alike."""
        return self.runs_totals([run_id])[run_id]

    def runs_totals(self, run_ids: list[str]) -> dict[str, dict[str, float]]:
        """``run_totals`` of each of ``run_ids``, in one query."""
        rows = self._rows(
            "SELECT j.value AS run_id, COALESCE(SUM(cost_usd),0) cost_usd,"
            " COALESCE(SUM(input_tokens + cache_read_input_tokens + cache_creation_input_tokens),0)"
            " input_tokens, COALESCE(SUM(input_tokens),0) uncached_input_tokens,"
            " COALESCE(SUM(output_tokens),0) output_tokens,"
            " COALESCE(SUM(cache_read_input_tokens),0) cache_read_input_tokens,"
            " COALESCE(SUM(cache_creation_input_tokens),0) cache_creation_input_tokens,"
            " COUNT(c.run_id) calls FROM json_each(?) j"
            " LEFT JOIN model_calls c ON c.run_id = j.value GROUP BY j.value",
            (json.dumps(list(dict.fromkeys(run_ids))),),
        )
        return {str(r[0]): {k: float(r[k]) for k in r.keys()[1:]} for r in rows}

    # -- events ---------------------------------------------------------------
    def append_event(self, run_id: str | None, kind: str, data: Mapping[str, object]) -> None:
        payload = stored(data)  # made before the write lock is taken
        with self.transaction() as db:
            chain(db, run_id, kind, payload)

    def events(
        self, run_id: str | None = None, kind: str | None = None, issue: int | None = None
    ) -> list[Event]:
        """The audit trail, oldest first: of one run, of one ``kind`` (one ending in ``.``
        names a family: ``human.``), about one issue (``data.issue``); each filter by index."""
        family = kind is not None and kind.endswith(".")
        filters, args = self._where(
            ("run_id = ?", run_id),
            ("kind >= ? AND kind < ?", (kind, kind[:-1] + "/") if kind and family else None),
            ("kind = ?", None if family else kind),
            ("json_extract(data, '$.issue') = ?", issue),
        )
        rows = self._rows("SELECT * FROM events" + filters + " ORDER BY id", args)
        return [from_row(Event, r, json=("data",)) for r in rows]

    # -- flags ----------------------------------------------------------------
    def set_flag(self, name: str, value: str) -> None:
        self._write(
            "INSERT INTO flags VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
            " value = excluded.value, updated_at = excluded.updated_at",
            (name, value, utc_now()),
        )
        self.append_event(None, "flag.set", {"name": name, "value": value})

    def get_flag(self, name: str, since: float | None = None) -> str | None:
        """The flag's value; ``since``: only if it was set at that factory time or later."""
        after = "" if since is None else utc_now(since)
        row = self._row("SELECT value FROM flags WHERE name = ? AND updated_at >= ?", (name, after))
        return str(row[0]) if row else None

    def clear_flag(self, name: str) -> None:
        self._write("DELETE FROM flags WHERE name = ?", (name,))
        self.append_event(None, "flag.cleared", {"name": name})
