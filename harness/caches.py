"""What the factory keeps in memory from one run to the next, in one object
(docs/architecture.md, the ``harness/caches.py`` row): ``PROCESS``, shared by every command of
a process, each module's own state one ``Caches.part`` of it; ``reset`` starts over (tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

V = TypeVar("V")
_MISSING = object()


class Memo(Generic[V]):
    """Values made once per key, thread-safe; ``limit`` keys at most (then it starts over;
    None: no limit, for values that must stay one per key, such as locks). Threads asking for
    the same missing key wait for the one making it (sixteen runs that start together read
    each override file once, not sixteen times); other keys do not wait."""

    def __init__(self, limit: int | None = 4096) -> None:
        self.limit = limit
        self._values: dict[Hashable, V] = {}
        self._making: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], V]) -> V:
        with self._lock:
            found = self._values.get(key, _MISSING)
            if found is not _MISSING:
                return cast(V, found)
            making = self._making.setdefault(key, threading.Lock())
        with making:
            with self._lock:
                found = self._values.get(key, _MISSING)
            if found is not _MISSING:
                return cast(V, found)
            value = make()
            with self._lock:
                if self.limit is not None and len(self._values) >= self.limit:
                    self._values.clear()
                    self._making = {key: making}
                self._making.pop(key, None)
                return self._values.setdefault(key, value)

    def peek(self, key: Hashable) -> V | None:
        """The value kept for ``key``, if any (nothing is made)."""
        with self._lock:
            return self._values.get(key)

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._values[key] = value

    def drop(self, key: Hashable) -> None:
        with self._lock:
            self._values.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)


class Locks(Memo[threading.Lock]):
    """One lock per key, for as long as the process lives (a module subclasses it to have a
    ``Caches.part`` of its own)."""

    def __init__(self) -> None:
        super().__init__(limit=None)


@dataclass
class Caches:
    """The process's shared memory: override files read from the production branch (a commit
    never changes, so its ``.factory/`` is read once), and one value of each module's own
    state class (``part``): the model's clients and rate limiters, the Playwright drivers
    that start every check's browser, a module's locks. Each is its owner's class, so this
    room, which every floor reads, names none of them."""

    overrides: Memo[dict[str, bytes | None]] = field(default_factory=Memo)
    _parts: dict[type, object] = field(default_factory=dict, repr=False)
    _lasting: dict[type, object] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def part(self, kind: type[V], lasting: bool = False) -> V:
        """The process's one ``kind`` (a module's locks, guards, table or cache: a class with
        a constructor that takes no argument), made on first use (outside the lock, as
        ``Memo`` makes values: two threads may make one each, one is kept). ``lasting``: kept
        through ``reset`` (the browser's drivers: each is a process of its own, stopped at
        exit)."""
        parts = self._lasting if lasting else self._parts
        with self._lock:
            found = parts.get(kind)
        if found is None:
            made = kind()
            with self._lock:
                found = parts.setdefault(kind, made)
        return cast(V, found)

    def reset(self) -> None:
        """Start over, as a new process would (tests; never while work runs). The lasting
        parts stay."""
        with self._lock:
            self._parts.clear()
            self.overrides = Memo()


PROCESS = Caches()  # the one the commands of this process share (see ``open_services``)
