"""Each test's time limit, in seconds of an idle machine, so that a busy one never crosses it
(a pytest plugin, loaded by ``tests/conftest.py``, in place of pytest-timeout's wall clock).

A test marked ``timeout(N)`` (``DEFAULT_S`` unmarked) may take ``N`` seconds of an idle
machine in each of its phases (set-up, its body, tear-down): a clock of its own counts each
wall second as the share of an idle core a process that can run gets now — the CPUs it may
use (fewer under a CPU quota) over the processes that can run (``/proc/loadavg``: now, or
over the last minute, whichever is more), at most one, times how fast one core is against an
idle one (``REFERENCE_CORE_S``: this thread's CPU time of a fixed loop; a shared or throttled
core does less with a CPU-second). At load 40 on two cores a second counts a twentieth: a
test that needs 30 s idle is given 600 s. A test that hangs is still stopped: its threads'
stacks written to its output, then it fails in its main thread (``SIGALRM``); one that does
not end ``GRACE_S`` later ends its worker."""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

DEFAULT_S = 300.0  # a test's limit in idle seconds, unless marked ``timeout(N)``
GRACE_S = 60.0  # more idle seconds for a test that was told to stop, before its worker ends
REFERENCE_CORE_S = 0.28  # one idle core here: 10 M Python additions in this CPU time
TICK_S = 1.0  # how often the clock looks at the machine
SPEED_EVERY_S = 30.0  # how often it measures one core's speed


def machine_share(runnable: float, cpus: float, core_s: float) -> float:
    """What one wall second is worth in seconds of an idle machine: a runnable process's share
    of a core (the ``cpus`` over the ``runnable`` processes, at most one), times how fast a
    core is against an idle one (at most one: a fast core never shortens a limit)."""
    return min(1.0, cpus / max(runnable, 1.0)) * min(1.0, REFERENCE_CORE_S / max(core_s, 1e-9))


def _runnable() -> float:
    """The processes that can run: now, or on average over the last minute, if more."""
    fields = Path("/proc/loadavg").read_text().split()
    return max(float(fields[0]), float(fields[3].split("/")[0]))


def _cpus() -> float:
    """The CPUs this process may use: those it may run on, or its cgroup's CPU quota if less
    (cgroup v1's ``cpu`` controller, or v2's ``cpu.max``)."""
    cpus = float(len(os.sched_getaffinity(0)))
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        group = Path("/sys/fs/cgroup", "cpu" if controllers else "", path.lstrip("/"))
        with contextlib.suppress(OSError, ValueError):
            if "cpu" in controllers.split(","):
                quota = int((group / "cpu.cfs_quota_us").read_text())
                period = int((group / "cpu.cfs_period_us").read_text())
            elif not controllers:
                most, every = (group / "cpu.max").read_text().split()
                quota, period = (-1 if most == "max" else int(most)), int(every)
            else:
                continue
            if quota > 0:
                cpus = min(cpus, quota / period)
    return cpus


def _core_s() -> float:
    """One core's speed: this thread's CPU seconds of ten million additions, from one million
    (``benchmarks.cpu.core_s``'s measure)."""
    started, total = time.thread_time(), 0
    for i in range(1_000_000):
        total += i
    return 10 * (time.thread_time() - started)


class Limit(threading.Thread):
    """The worker's clock: while a phase runs, its idle seconds; past the phase's limit, the
    test is told to stop (``SIGALRM`` to the main thread), and past the grace, the worker
    ends."""

    def __init__(self) -> None:
        super().__init__(name="test-limit", daemon=True)
        self.lock = threading.Lock()
        self.phase: tuple[str, float] | None = None  # (what runs, its limit in idle seconds)
        self.spent = 0.0  # idle seconds of the phase that runs
        self.wall = 0.0
        self.told = False
        self.core_s = REFERENCE_CORE_S
        self.share = 1.0  # of an idle core, as the clock's last look found it
        self.main = threading.main_thread().ident or 0

    def run(self) -> None:
        measured = last = time.monotonic()
        while True:
            time.sleep(TICK_S)
            now = time.monotonic()
            if now - measured >= SPEED_EVERY_S:
                self.core_s, measured = _core_s(), now
            with contextlib.suppress(OSError, ValueError, IndexError):
                self.share = machine_share(_runnable(), _cpus(), self.core_s)
            with self.lock:
                step, last = now - last, now
                if self.phase is None:
                    continue
                self.spent += step * self.share
                self.wall += step
                what, limit = self.phase
                if not self.told and self.spent > limit:
                    self.told = True
                    self._stop(what, limit)
                elif self.told and self.spent > limit + GRACE_S:
                    sys.stderr.write(f"\n{what}: still running {GRACE_S:g} s after: exit\n")
                    faulthandler.dump_traceback(sys.stderr, all_threads=True)
                    os._exit(1)

    def _stop(self, what: str, limit: float) -> None:
        sys.stderr.write(
            f"\n{what}: over its limit of {limit:g} s of an idle machine ({self.wall:.0f} s "
            f"of wall, the last second worth {self.share:.2f}): the threads' stacks\n"
        )
        faulthandler.dump_traceback(sys.stderr, all_threads=True)
        signal.pthread_kill(self.main, signal.SIGALRM)

    def start_phase(self, what: str, limit: float) -> None:
        with self.lock:
            self.phase, self.spent, self.wall, self.told = (what, limit), 0.0, 0.0, False

    def end_phase(self) -> None:
        with self.lock:
            self.phase = None


class Limits:
    def __init__(self) -> None:
        self.clock = Limit()
        self.clock.start()
        signal.signal(signal.SIGALRM, self._over)

    def _over(self, signum: int, frame: object) -> None:
        if self.clock.told and self.clock.phase is not None:  # not a phase that just ended
            pytest.fail("over its time limit in seconds of an idle machine (stacks above)")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Iterator[None]:
        yield from self._timed(item, "set-up")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        yield from self._timed(item, "test")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Iterator[None]:
        yield from self._timed(item, "tear-down")

    def _timed(self, item: pytest.Item, phase: str) -> Iterator[None]:
        marker = item.get_closest_marker("timeout")
        given = (marker.args or [marker.kwargs.get("timeout")])[0] if marker else None
        limit = DEFAULT_S if given is None else float(given)
        self.clock.start_phase(f"{item.nodeid} ({phase})", limit)
        try:
            yield
        finally:
            self.clock.end_phase()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "timeout(seconds): the test's limit in seconds of an idle machine"
    )
    if threading.current_thread() is threading.main_thread():
        config.pluginmanager.register(Limits(), "test-limits")
