"""Reads of the store that only the tests make: the local forge's pull requests as its table
keeps them (``benchmarks/forge_rows.py``: the soak reads them too), and the audit trail's hash
chain checked whole (as ``factory doctor`` checks it)."""

from __future__ import annotations

from benchmarks.forge_rows import pull_requests as pull_requests  # the tests import it here
from harness.store.db import Store
from harness.store.ledger import first_break


def verify_chain(store: Store) -> bool:
    """True if no event was altered, removed or reordered since it was written."""
    return first_break(store._conn()) is None
