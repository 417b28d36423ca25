"""A concurrency limiter fed by the provider's ``anthropic-ratelimit-*`` response headers.

All threads calling one endpoint share it (``Caches.limiter``): when the remaining request
budget is used up (counting calls in flight), callers wait for the reset the server announced
instead of sending requests that would come back 429 — no retry storm. A 429's
``retry-after`` pauses everyone, not just the caller."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import datetime

from harness.caches import Memo
from harness.errors import DeferredError


def _epoch(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()  # a "Z" too (Python 3.11)
    except ValueError:
        return None


class RateLimiter:
    def __init__(self, max_wait_s: float = 60.0) -> None:
        self.max_wait_s = max_wait_s
        self.remaining: int | None = None
        self.reset_at = 0.0
        self.in_flight = 0
        self._cond = threading.Condition()

    def acquire(self) -> None:
        """Wait for a free slot. With fresh headers: while ``remaining`` > calls in flight.
        With none (the first call, or after the announced reset): one probe at a time."""
        with self._cond:
            while True:
                now = time.time()
                fresh = self.remaining is not None and now < self.reset_at
                if fresh and self.remaining is not None and self.remaining > self.in_flight:
                    break
                if not fresh and self.in_flight == 0:
                    break
                wait = (self.reset_at - now) if fresh else 0.05
                if wait > self.max_wait_s:
                    raise DeferredError(
                        f"rate limit resets in {wait:.0f}s: deferred", self.reset_at
                    )
                self._cond.wait(timeout=max(wait, 0.01))
            self.in_flight += 1

    def release(self, headers: Mapping[str, str] | None, retry_after: float | None = None) -> None:
        with self._cond:
            self.in_flight = max(0, self.in_flight - 1)
            lowered = {k.lower(): v for k, v in (headers or {}).items()}
            remaining = lowered.get("anthropic-ratelimit-requests-remaining")
            reset = _epoch(lowered.get("anthropic-ratelimit-requests-reset"))
            if remaining is not None and remaining.isdigit():
                # in one window the count only falls: an answer that comes after a newer one
                # (the same reset announced) holds a count already spent
                known = self.remaining if reset == self.reset_at else None
                self.remaining = int(remaining) if known is None else min(known, int(remaining))
                if reset is not None:
                    self.reset_at = reset
            if retry_after is not None:
                self.remaining = 0
                self.reset_at = max(self.reset_at, time.time() + retry_after)
            self._cond.notify_all()


class Limiters(Memo[RateLimiter]):
    """The process's rate limiters, one per endpoint: every thread calling it waits on the
    same announced limits (a ``Caches.part``)."""
