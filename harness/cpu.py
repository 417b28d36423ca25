"""Who uses the CPUs next when a process has more work than CPUs (docs/architecture.md, the
``harness/cpu.py`` row; why: docs/user-guide.md): ``Slots`` and CPU slots. A CPU slot is an order,
never a lock: a run that has waited ``PATIENCE_S`` goes on without it."""

from __future__ import annotations

import itertools
import os
import threading
from bisect import insort
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from harness.caches import PROCESS

PATIENCE_S = 2.0  # how long a run waits for a CPU slot before it goes on without one


class Slots:
    """``size`` holders at a time; a slot given back goes to the waiting taker of lowest
    ``rank`` (the first of equals), the one taker woken (not every waiter, each to take the
    interpreter lock and wait again)."""

    def __init__(self, size: int) -> None:
        self.free = size  # 0 while a taker waits
        self.waiting: list[tuple[int, threading.Event]] = []  # by rank, each set when handed one
        self.lock = threading.Lock()

    def take(self, rank: int, patience_s: float | None = None) -> bool:
        """Wait for a slot (at most ``patience_s``; None: no limit): whether one was taken."""
        with self.lock:
            if self.free > 0:
                self.free -= 1
                return True
            taker = (rank, threading.Event())
            insort(self.waiting, taker, key=lambda waiting: waiting[0])  # after its equals
        if not taker[1].wait(patience_s):
            with self.lock:  # handed one as its patience ran out: it holds it
                if taker in self.waiting:
                    self.waiting.remove(taker)
                    return False
        return True

    def give(self) -> None:
        with self.lock:
            if self.waiting:
                self.waiting.pop(0)[1].set()
            else:
                self.free += 1

    @contextmanager
    def taken(self, rank: int) -> Iterator[None]:
        self.take(rank)
        try:
            yield
        finally:
            self.give()


def cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class _Place(threading.local):
    """This thread's place: inside a run (``depth``), holding a CPU slot, or waiting outside."""

    depth = 0
    held = False
    away = False


class CpuSlots:
    """CPU slots: one per CPU, first come, first served (the process's own: its
    ``Caches.part``)."""

    def __init__(self) -> None:
        self.slots = Slots(cpus())
        self._tickets = itertools.count()
        self._mine = _Place()

    def _take(self) -> None:
        self._mine.held = self.slots.take(next(self._tickets), PATIENCE_S)

    def _give(self) -> None:
        if self._mine.held:
            self._mine.held = False
            self.slots.give()

    @contextmanager
    def working(self) -> Iterator[None]:
        """The length of a run: it holds a CPU slot (a run inside a run shares the outer's)."""
        mine = self._mine
        mine.depth += 1
        try:
            if mine.depth == 1:
                self._take()
            yield
        finally:
            mine.depth -= 1
            if mine.depth == 0:
                self._give()

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """While the run waits on something outside the process or on another run: its CPU slot
        goes to the next run, and it asks again afterwards (outside a run, or already waiting:
        nothing)."""
        mine = self._mine
        if mine.depth == 0 or mine.away:
            yield
            return
        self._give()
        mine.away = True
        try:
            yield
        finally:
            mine.away = False
            self._take()


def working() -> AbstractContextManager[None]:
    """This thread's run holds a CPU slot among the process's other runs
    (``CpuSlots.working``)."""
    return PROCESS.part(CpuSlots).working()


def waiting() -> AbstractContextManager[None]:
    """This thread's run waits outside the process or on another run (``CpuSlots.waiting``)."""
    return PROCESS.part(CpuSlots).waiting()
