"""What the factory keeps in memory from one run to the next, in one object.

``Services`` holds a ``Caches``; ``open_services`` gives every command of a process the same
one (``PROCESS``), so the parallel runs of a cycle share model clients, rate limiters and the
override files they read, and a test can start from an empty one. These caches live here,
owned by ``Services``, rather than in the modules that use them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from harness.model.base import Model
    from harness.model.ratelimit import RateLimiter

V = TypeVar("V")
_MISSING = object()


class Memo(Generic[V]):
    """Values made once per key, thread-safe; ``limit`` keys at most (then it starts over).
    Threads asking for the same missing key wait for the one making it (sixteen runs that
    start together read each override file once, not sixteen times); other keys do not wait."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._values: dict[Hashable, V] = {}
        self._making: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], V]) -> V:
        with self._lock:
            found = self._values.get(key, _MISSING)
            if found is not _MISSING:
                return found  # type: ignore[return-value]
            making = self._making.setdefault(key, threading.Lock())
        with making:
            with self._lock:
                found = self._values.get(key, _MISSING)
            if found is not _MISSING:
                return found  # type: ignore[return-value]
            value = make()
            with self._lock:
                if len(self._values) >= self.limit:
                    self._values.clear()
                    self._making = {key: making}
                self._making.pop(key, None)
                return self._values.setdefault(key, value)

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)


@dataclass
class Caches:
    """The process's shared memory: model clients (one per endpoint, key and retry policy;
    building one costs a TLS context), rate limiters (one per endpoint: every thread calling
    it waits on the same announced limits) and override files read from the production
    branch (a commit never changes, so each is read once)."""

    clients: Memo[Model] = field(default_factory=Memo)
    limiters: Memo[RateLimiter] = field(default_factory=Memo)
    overrides: Memo[str | None] = field(default_factory=Memo)

    def limiter(self, endpoint: str, max_wait_s: float) -> RateLimiter:
        """The rate limiter every client of ``endpoint`` shares."""
        from harness.model.ratelimit import RateLimiter

        return self.limiters.get(endpoint, lambda: RateLimiter(max_wait_s))


PROCESS = Caches()  # the one the commands of this process share (see ``open_services``)
