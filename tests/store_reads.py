"""Reads of the store that only the tests and the soak make: the local forge's pull requests
as its table keeps them, and the audit trail's hash chain checked whole (as
``factory doctor`` checks it)."""

from __future__ import annotations

from harness.forge.base import PullRequest
from harness.store.base import from_row
from harness.store.db import Store
from harness.store.ledger import first_break


def pull_requests(store: Store, issue: int | None = None) -> list[PullRequest]:
    """The local forge's pull requests (those of ``issue``, when given), by number."""
    if issue is None:
        rows = store._rows("SELECT * FROM pull_requests ORDER BY number")
    else:
        rows = store._rows("SELECT * FROM pull_requests WHERE issue = ? ORDER BY number", (issue,))
    return [from_row(PullRequest, row) for row in rows]


def verify_chain(store: Store) -> bool:
    """True if no event was altered, removed or reordered since it was written."""
    return first_break(store._conn()) is None
