"""The local forge's pull requests as its table keeps them: the forge offers no list of them
(the factory never needs one), and the soak and the tests read them from the records."""

from __future__ import annotations

from harness.forge.base import PullRequest
from harness.store.base import from_row
from harness.store.db import Store


def pull_requests(store: Store, issue: int | None = None) -> list[PullRequest]:
    """The local forge's pull requests (those of ``issue``, when given), by number."""
    if issue is None:
        rows = store._rows("SELECT * FROM pull_requests ORDER BY number")
    else:
        rows = store._rows("SELECT * FROM pull_requests WHERE issue = ? ORDER BY number", (issue,))
    return [from_row(PullRequest, row) for row in rows]
