"""``Store``: the harness's SQLite database at ``FACTORY_STATE_DIR/state.db``."""

from __future__ import annotations

from pathlib import Path

from harness.store.base import DB_NAME
from harness.store.forge_cache import ForgeCacheMixin
from harness.store.forge_tables import ForgeTablesMixin
from harness.store.intents import IntentsMixin
from harness.store.leases import LeasesMixin
from harness.store.ledger import LedgerMixin
from harness.store.migrations import migrate
from harness.store.runs import RunsMixin


class Store(RunsMixin, LedgerMixin, LeasesMixin, ForgeTablesMixin, IntentsMixin, ForgeCacheMixin):
    """Runs, steps, model calls, events, flags, leases and the local forge, in one WAL database."""

    @classmethod
    def open(cls, state_dir: Path) -> Store:
        state_dir.mkdir(parents=True, exist_ok=True)
        store = cls(state_dir / DB_NAME)
        migrate(store._conn())
        return store
