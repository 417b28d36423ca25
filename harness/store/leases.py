"""Leases with fencing: one runner per issue; a lost lease makes the old holder's writes fail."""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from harness.errors import LeaseError
from harness.store.base import StoreBase

# The run-level lease: issue numbers start at 1, so 0 names "the cycle" — the one
# ``factory run`` / ``factory triage`` that judges and works issues on this state at a time.
CYCLE_LEASE = 0
# The landing lease: -1 names "production" — one merge at a time lands on it (validations run
# in parallel; each landing checks production did not move, merges and compares the tree).
LANDING_LEASE = -1
ISSUE_TTL_S = 4 * 3600.0  # an issue's lease (``held``), renewed by each step of its run


def holder_id() -> str:
    """A new holder of this process: its host, its pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def holder_is_gone(holder: str) -> bool:
    """True if ``holder`` was a process on this host that no longer runs (it crashed)."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    import psutil  # when a lease is contested: most commands never take it

    return not psutil.pid_exists(int(pid))


class LeasesMixin(StoreBase):
    clock: Callable[[], float] = time.time

    def acquire_lease(self, issue: int, run_id: str, ttl_s: float) -> int:
        """Claim ``issue`` for ``run_id`` atomically; return the fence token.

        An unexpired lease is taken over only if its holder is gone (``holder_is_gone``: a
        process on this host that no longer exists)."""
        now = self.clock()
        with self.transaction() as db:
            row = db.execute("SELECT * FROM leases WHERE issue = ?", (issue,)).fetchone()
            if row is None:
                db.execute("INSERT INTO leases VALUES (?, ?, 1, ?)", (issue, run_id, now + ttl_s))
                return 1
            if row["run_id"] == run_id and row["expires_at"] > now:
                db.execute("UPDATE leases SET expires_at = ? WHERE issue = ?", (now + ttl_s, issue))
                return int(row["fence"])
            if row["expires_at"] > now and not holder_is_gone(row["run_id"]):
                raise LeaseError(f"issue {issue} is being worked on by run {row['run_id']}")
            fence = int(row["fence"]) + 1
            db.execute(
                "UPDATE leases SET run_id = ?, fence = ?, expires_at = ? WHERE issue = ?",
                (run_id, fence, now + ttl_s, issue),
            )
            return fence

    def check_lease(self, issue: int, run_id: str, fence: int) -> None:
        """Raise ``LeaseError`` unless ``run_id`` still holds ``issue`` with ``fence``."""
        row = self._row("SELECT * FROM leases WHERE issue = ?", (issue,))
        if row is None or row["run_id"] != run_id or int(row["fence"]) != fence:
            raise LeaseError(f"run {run_id} lost its lease on issue {issue}")
        if row["expires_at"] <= self.clock():
            raise LeaseError(f"run {run_id}'s lease on issue {issue} expired")

    @contextmanager
    def held(self, issue: int) -> Iterator[tuple[str, int]]:
        """``issue`` claimed for a new holder of this process (a holder that is gone is taken
        over; one alive raises ``LeaseError``), given back at the end: yields the holder and
        its fence token."""
        holder = holder_id()
        fence = self.acquire_lease(issue, holder, ISSUE_TTL_S)
        try:
            yield holder, fence
        finally:
            self.release_lease(issue, holder)

    def release_lease(self, issue: int, run_id: str) -> None:
        self._write("DELETE FROM leases WHERE issue = ? AND run_id = ?", (issue, run_id))

    def lease_holder(self, issue: int) -> str | None:
        """Who holds ``issue`` now (None when nobody does or the lease expired)."""
        row = self._row("SELECT * FROM leases WHERE issue = ?", (issue,))
        return None if row is None or row["expires_at"] <= self.clock() else str(row["run_id"])
