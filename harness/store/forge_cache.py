"""What a remote forge answered, kept across runs (``forge_cache``): values by key, each
with the validator (an ETag) to send with the next conditional request for it."""

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
