"""``Store``: the harness's SQLite database at ``FACTORY_STATE_DIR/state.db``."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from harness.caches import PROCESS
from harness.store.backtests import BacktestsMixin
from harness.store.base import DB_NAME
from harness.store.forge_cache import ForgeCacheMixin
from harness.store.forge_tables import ForgeTablesMixin
from harness.store.health import backup_path, check_folder, check_schema, closed, explain, opening
from harness.store.leases import LeasesMixin
from harness.store.ledger import LedgerMixin
from harness.store.migrations import applied_names, fresh, migrate
from harness.store.outcomes import OutcomesMixin, ended, shown
from harness.store.runs import RunsMixin
from harness.store.trends import TrendsMixin


@dataclass
class Opened:
    """The state database this process opened last: what an SQLite failure far from the
    store (a page found damaged mid-command) is reported against."""

    last: Path | None = None


class Store(
    RunsMixin,
    OutcomesMixin,
    TrendsMixin,
    LedgerMixin,
    LeasesMixin,
    ForgeTablesMixin,
    ForgeCacheMixin,
    BacktestsMixin,
):
    """Runs, steps, model calls, events, flags, leases and the local forge, in one WAL database."""

    @classmethod
    def open(cls, state_dir: Path) -> Store:
        """Open (or create) the state; an unusable one raises ``StateError`` untouched."""
        check_folder(state_dir)
        db = state_dir / DB_NAME
        if not (db.exists() or db.is_symlink()):
            fresh(db)
        key = opening(db)  # the file's header is checked unless this process has it open
        store = cls(db)
        store._live_key = key
        try:
            conn = store._conn()
            applied = applied_names(conn)
            check_schema(applied, db)
            migrate(conn, applied)
        except sqlite3.Error as exc:
            store.close()
            raise explain(exc, db) or exc from None
        except BaseException:
            store.close()
            raise
        PROCESS.part(Opened).last = db
        return store

    _live_key: Path | None = None

    def outcome_counts(self) -> dict[str, int]:
        """The newest 100 runs counted by the word a reader sees of each: its outcome
        (``merged``, ``needs_review``, ``rejected`` …), else its status (``running`` …), so
        refused work never reads as "succeeded" (``factory status``, the dashboard)."""
        runs = self.list_runs(limit=100)
        outcomes = self.run_outcomes([(r.id, r.workflow, r.status) for r in runs])
        return dict(
            Counter(shown(ended(outcomes[r.id][0], r.status, r.reason), r.status) for r in runs)
        )

    def close(self) -> None:
        super().close()
        key, self._live_key = self._live_key, None
        if key is not None:
            closed(key)

    def hand_off(self, folder: Path, runs: list[str]) -> None:
        """``folder`` made a state of its own that holds ``runs`` alone, with their steps and
        model calls: what the next job needs of this one's state (a plan's pull requests, to
        validate them), and nothing else it holds (docs/github.md). Handed again (a plan made
        again after a kill), what it holds already stays."""
        handed = Store.open(folder)
        marks = ",".join("?" * len(runs))
        with handed.transaction() as db:
            for table, key in (("runs", "id"), ("steps", "run_id"), ("model_calls", "run_id")):
                names = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
                rows = self._rows(
                    f"SELECT {', '.join(names)} FROM {table} WHERE {key} IN ({marks})", tuple(runs)
                )
                db.executemany(
                    f"INSERT OR IGNORE INTO {table} ({', '.join(names)})"
                    f" VALUES ({','.join('?' * len(names))})",
                    rows,
                )
        handed.close()

    def backup(self) -> None:
        """A consistent copy of the whole state beside it (``state.db.backup``), replaced
        atomically: what a corrupt state is restored from."""
        target = backup_path(self.path)
        partial = target.with_name(target.name + f".{os.getpid()}.partial")
        try:
            with contextlib.closing(sqlite3.connect(partial)) as copy:
                self._conn().backup(copy)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
