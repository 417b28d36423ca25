"""The retry policy of the model and GitHub clients: no library default decides how long the
harness waits.

The SDKs' own retries are off; this is the only retry layer. The honoured
``retry-after`` is capped: a server asking for more than the cap defers the work
(``DeferredError``) instead of sleeping for days.
"""

from __future__ import annotations

import contextlib
import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

RETRYABLE = frozenset((408, 409, 429, 500, 502, 503, 504, 529))


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    max_wait_s: float = 60.0  # longest server-requested wait we honour; beyond it: defer
    base_s: float = 0.5
    cap_s: float = 8.0
    jitter: float = 0.5  # a wait is its step times a random share in [1 - jitter, 1]

    def backoff(self, attempt: int) -> float:
        """Exponential backoff, the step jittered down by at most ``jitter`` of it."""
        step = min(self.cap_s, self.base_s * float(2**attempt))
        return float(step * (1.0 - self.jitter + self.jitter * random.random()))


def server_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` / ``retry-after``), or None.

    ``0``, a negative value or a date in the past count as no request (normal backoff).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    with contextlib.suppress(KeyError, ValueError):  # none, or not a number: retry-after
        value = float(lowered["retry-after-ms"]) / 1000
        return value if value > 0 else None
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        value = parsed.timestamp() - time.time()
    return value if value > 0 else None
