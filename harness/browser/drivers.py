"""Playwright drivers kept for the life of a process, so a check starts a browser, not a driver
(a driver costs as much CPU as the browser it launches). Playwright's synchronous API belongs to
the thread that started it: each driver lives on a thread of its own, and a check hands it the
work (``Drivers.run``); nothing of a browser outlives its check. A driver that broke is
dropped; at exit each stops on its own thread."""

from __future__ import annotations

import atexit
import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
_STOP = None
_Job = tuple[Callable[[Any], Any], Future[Any]]  # a function of the driver, and where its end goes


class _DriverThread:
    """One Playwright driver and the thread that owns it."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.broken = False
        self.thread = threading.Thread(target=self._serve, daemon=True)  # named Thread-N: unique
        self.thread.start()

    def _serve(self) -> None:
        from playwright.sync_api import sync_playwright  # the first check imports it

        playwright: Any = None  # its driver (Playwright), once started
        try:
            while (job := self.jobs.get()) is not _STOP:
                fn, done = job
                try:
                    if playwright is None:
                        playwright = sync_playwright().start()
                    done.set_result(fn(playwright))
                except BaseException as exc:
                    # no driver, or a failing check (a result, not an exception): this job
                    # fails and the thread ends, as after a check the driver may be gone or
                    # half-shut, so it is never handed another job
                    self.broken = True
                    done.set_exception(exc)
                    return
        finally:
            if playwright is not None:
                with contextlib.suppress(Exception):  # a driver that died is already stopped
                    playwright.stop()

    def run(self, fn: Callable[[Any], T]) -> T:
        done: Future[T] = Future()
        self.jobs.put((fn, done))
        return done.result()

    def stop(self, wait_s: float) -> None:
        self.jobs.put(_STOP)
        self.thread.join(wait_s)


class Drivers:
    """The process's idle drivers; as many exist as checks ever ran at once."""

    def __init__(self) -> None:
        self._idle: list[_DriverThread] = []
        self._lock = threading.Lock()
        self._closed = False
        self._starting = 0
        atexit.register(self.close)

    def run(self, fn: Callable[[Any], T], worker: _DriverThread | None = None) -> T:
        """``fn(playwright)`` on ``worker``'s thread, else an idle driver's (a new one if none
        is idle); what it returns or raises comes back here."""
        with self._lock:
            worker = worker or (self._idle.pop() if self._idle else _DriverThread())
        try:
            return worker.run(fn)
        finally:
            with self._lock:
                if worker.broken or self._closed:
                    worker.stop(0)
                else:
                    self._idle.append(worker)

    def start(self, count: int) -> None:
        """Drivers started in the background until ``count`` are idle or starting: a check
        that comes first, or after one failed, starts its own."""
        with self._lock:
            workers = [_DriverThread() for _ in range(count - len(self._idle) - self._starting)]
            self._starting += len(workers)
        for worker in workers:
            threading.Thread(target=self._started, args=(worker,), daemon=True).start()

    def _started(self, worker: _DriverThread) -> None:
        with contextlib.suppress(Exception):  # dropped (``run``)
            self.run(lambda playwright: None, worker)
        with self._lock:
            self._starting -= 1

    def close(self) -> None:
        """Stop every idle driver, waiting a few seconds for each (a running check's driver
        stops when its check ends)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop(5.0)
