"""Landings one at a time: validations run in parallel, but only one change at a time goes
from "production did not move since it was tested" to "merged and its tree checked". Without
this, two validations of the same production could both pass the SHA check and both merge."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from harness.errors import LeaseError, StepFailed
from harness.implement.run import holder_is_gone
from harness.store.db import Store
from harness.store.leases import LANDING_LEASE

LANDING_TTL_S = 600.0  # longer than one merge, tree check and possible revert take


@contextmanager
def landing_slot(
    store: Store, holder: str, wait_s: float = 1800.0, poll_s: float = 0.2
) -> Iterator[None]:
    """Hold production's landing lease while the body runs; wait for it (bounded) while
    another change lands. A holder that crashed on this host is taken over at once."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            store.acquire_lease(LANDING_LEASE, holder, LANDING_TTL_S, is_stale=holder_is_gone)
            break
        except LeaseError as exc:
            if time.monotonic() >= deadline:
                raise StepFailed(f"production is busy landing another change: {exc}", {}) from exc
            time.sleep(poll_s)
    try:
        yield
    finally:
        store.release_lease(LANDING_LEASE, holder)
