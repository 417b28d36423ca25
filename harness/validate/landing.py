"""Production's merge queue: validations run in parallel, landings one at a time.

A validation that reaches its merge takes production's landing lease and keeps it until its
run ends (``validate_issue`` gives it back): the moved-production check, the merge, the
landed-tree check and the smoke run all happen while no other change can land. When
production moved since the candidate was tested, the run goes back to its baseline *still
holding the lease*, so the rebuilt candidate is tested against a production that cannot move
again under it (only a person pushing can still move it): one rebuild per change, never a
race that sends a good change to a person after a few lost rounds. A holder that crashed on
this host is taken over at once."""

from __future__ import annotations

import time

from harness.errors import LeaseError, StepFailed
from harness.implement.run import holder_is_gone
from harness.store.db import Store
from harness.store.leases import LANDING_LEASE

LANDING_TTL_S = 4 * 3600.0  # a rebuilt candidate's tests, journeys and validator fit in it


def take_landing(
    store: Store, holder: str, wait_s: float = 4 * 3600.0, poll_s: float = 0.2
) -> None:
    """Take production's landing lease for ``holder`` (again, if it holds it: the lease is
    renewed), waiting while another change lands — bounded by ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            store.acquire_lease(LANDING_LEASE, holder, LANDING_TTL_S, is_stale=holder_is_gone)
            return
        except LeaseError as exc:
            if time.monotonic() >= deadline:
                raise StepFailed(f"production is busy landing another change: {exc}", {}) from exc
            time.sleep(poll_s)


def give_back_landing(store: Store, holder: str) -> None:
    """Let the next change land (nothing happens unless ``holder`` holds the lease)."""
    store.release_lease(LANDING_LEASE, holder)


def is_landing(store: Store, holder: str) -> bool:
    """Whether ``holder`` is the change landing now (its checks go first)."""
    return store.lease_holder(LANDING_LEASE) == holder
