"""Intents: a write to a remote forge is recorded before it is sent and resolved after it.

After a crash, a pending intent says the write may have happened: the forge looks it up
(by marker or branch) before it writes again. A done intent keeps the result, so a re-run
neither writes again nor needs to look."""

from __future__ import annotations

from typing import Any

from harness.store.base import StoreBase, dumps, loads, utc_now


class IntentsMixin(StoreBase):
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
