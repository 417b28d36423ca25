"""The share of GitHub's remaining rate limit one run may spend (``github.max_request_share``;
docs/github.md, "What it costs on GitHub's rate limit"): fixed by the first answer a run sees;
an issue is taken only while the spending so far plus what an issue costs (the larger of
``PER_ISSUE`` and the run's own average) stays within it."""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime

PER_ISSUE = 4  # requests an issue is taken to cost at the least


class RequestBudget:
    def __init__(self, share: float) -> None:
        self.share = share
        self.start: int | None = None  # remaining before this run's first counted request
        self.remaining: int | None = None
        self.reset = 0
        self._lock = threading.Lock()

    def seen(self, status: int, headers: dict[str, str]) -> None:
        """Note the rate-limit headers of one answer."""
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            remaining = int(float(lower["x-ratelimit-remaining"]))
            reset = int(float(lower.get("x-ratelimit-reset", "0")))
        except (KeyError, ValueError):
            return
        with self._lock:
            before = remaining + (0 if status == 304 else 1)
            new_window = reset > self.reset + 1 and before > (self.remaining or 0)
            if self.start is None or new_window:
                self.start = before  # the run's first answer, or a new window
            self.remaining = remaining
            self.reset = reset

    @property
    def spent(self) -> int:
        return 0 if self.start is None or self.remaining is None else self.start - self.remaining

    def stop_reason(self, taken: int) -> str | None:
        """Why the run must not take another issue (``taken`` so far), or ``None``."""
        with self._lock:
            if self.start is None:
                return None
            allowed = math.floor(self.share * self.start)
            average = math.ceil(self.spent / taken) if taken else 0
            if self.spent + max(PER_ISSUE, average) <= allowed:
                return None
            at = datetime.fromtimestamp(self.reset, UTC).strftime("%H:%M UTC")
            return (
                f"GitHub request budget reached: this run spent {self.spent} of the {allowed} "
                f"requests it may use ({self.share:.0%} of the {self.start} left when it "
                f"started; the limit resets at {at}); no more issues are taken now, the next "
                "run continues"
            )
