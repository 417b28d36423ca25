"""What the state keeps of a remote forge across runs: what it answered (``forge_cache``):
values by key, each with the validator (an ETag) to send with the next conditional request
for it; and what the factory wrote to it (``forge_intents``): a write is recorded before it
is sent and resolved after it.

After a crash, a pending intent says the write may have happened: the forge looks it up
(by marker or branch) before it writes again. A done intent keeps the result, so a re-run
neither writes again nor needs to look."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.store.base import StoreBase, dumps, loads, utc_now


class ForgeCacheMixin(StoreBase):
    def cached(self, key: str) -> tuple[Any, str | None] | None:
        """``(value, validator)`` kept under ``key``, or ``None``."""
        row = self._row("SELECT value, validator FROM forge_cache WHERE key = ?", (key,))
        return None if row is None else (loads(row["value"]), row["validator"])

    def cache(self, items: Mapping[str, object], validator: str | None = None) -> None:
        """Keep every ``key: value`` of ``items`` (one transaction), with ``validator``."""
        now = utc_now()
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO forge_cache (key, value, validator, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                " validator = excluded.validator, updated_at = excluded.updated_at",
                [(key, dumps(value), validator, now) for key, value in items.items()],
            )

    def cached_under(self, prefix: str) -> dict[str, Any]:
        """Every value whose key starts with ``prefix``."""
        rows = self._rows(
            "SELECT key, value FROM forge_cache WHERE key >= ? AND key < ? ORDER BY key",
            (prefix, prefix + "\uffff"),
        )
        return {str(r["key"]): loads(r["value"]) for r in rows}

    def uncache(self, key: str) -> None:
        self._write("DELETE FROM forge_cache WHERE key = ?", (key,))

    # -- intents --------------------------------------------------------------------
    def intent(self, key: str) -> tuple[str, Any] | None:
        """``(status, result)`` of the intent ``key``, or ``None`` if there is none."""
        row = self._row("SELECT status, result FROM forge_intents WHERE key = ?", (key,))
        return None if row is None else (str(row["status"]), loads(row["result"]))

    def begin_intent(self, key: str, kind: str) -> None:
        now = utc_now()
        self._write(
            "INSERT INTO forge_intents (key, kind, status, result, created_at, updated_at)"
            " VALUES (?, ?, 'pending', NULL, ?, ?) ON CONFLICT (key) DO NOTHING",
            (key, kind, now, now),
        )

    def resolve_intent(self, key: str, result: Any) -> None:
        self._write(
            "UPDATE forge_intents SET status = 'done', result = ?, updated_at = ? WHERE key = ?",
            (dumps(result), utc_now(), key),
        )
