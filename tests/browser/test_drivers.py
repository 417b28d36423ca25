"""Kept Playwright drivers: a check borrows an idle driver (its own thread), checks at once get
drivers of their own, a check that raised leaves its driver behind, and each starts a real
confined Chromium through ``in_browser``; drivers started ahead (``start``) serve the next
checks, and one that fails to start leaves the check to start its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Playwright

from harness.browser.chromium import BrowserSession, in_browser
from harness.browser.drivers import Drivers


@pytest.fixture(scope="module")
def drivers() -> Iterator[Drivers]:
    """One process's kept drivers for the module, as a factory process keeps them across its
    checks: each test's assertions hold whatever the tests before it left idle (the last
    driver given back is the next one lent), and a driver costs about half a CPU-second."""
    kept = Drivers()
    yield kept
    kept.close()


def _where(playwright: Playwright) -> tuple[str, int]:
    return threading.current_thread().name, id(playwright)


def test_one_check_after_another_uses_the_same_driver(drivers: Drivers) -> None:
    first, second = drivers.run(_where), drivers.run(_where)
    assert first == second
    assert first[0] != threading.current_thread().name  # never on the caller's thread


def test_checks_at_once_get_a_driver_each(drivers: Drivers) -> None:
    both = threading.Barrier(2, timeout=60)
    seen: list[tuple[str, int]] = []

    def meet(playwright: Playwright) -> None:
        both.wait()  # each waits for the other: only two drivers let both arrive
        seen.append(_where(playwright))

    callers = [threading.Thread(target=drivers.run, args=(meet,)) for _ in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert len(set(seen)) == 2
    assert drivers.run(_where) in seen  # and both stay for the next checks


def test_a_check_that_raised_leaves_its_driver_behind(drivers: Drivers) -> None:
    before = drivers.run(_where)

    def fails(playwright: Playwright) -> None:
        raise RuntimeError("the check broke")

    with pytest.raises(RuntimeError, match="the check broke"):
        drivers.run(fails)
    after = drivers.run(_where)
    assert after[0] != before[0]


def test_in_browser_starts_a_fresh_chromium_on_a_kept_driver(
    drivers: Drivers, tmp_path: Path
) -> None:
    def visit(session: BrowserSession) -> str:
        assert session.browser is not None
        page = session.browser.new_page()
        page.set_content("<h1>kept driver</h1>")
        return page.inner_text("h1")

    assert in_browser(drivers, visit, netns_pid=None, hidden=()) == "kept driver"
    # each check its own browser, closed when the check ends, on the same kept driver
    seen = [in_browser(drivers, _browser_and_driver, netns_pid=None, hidden=()) for _ in range(2)]
    assert seen[0][0] is not seen[1][0] and seen[0][1] == seen[1][1]
    assert not seen[0][0].is_connected()


def _browser_and_driver(session: BrowserSession) -> tuple[Browser, str]:
    assert session.browser is not None and session.browser.is_connected()
    return session.browser, threading.current_thread().name


def _idle_once(drivers: Drivers, count: int) -> None:
    """Until ``count`` drivers are idle and none is starting (a wait, not a measure)."""
    deadline = time.monotonic() + 120
    while len(drivers._idle) != count or drivers._starting:
        assert time.monotonic() < deadline, "the drivers never started"
        time.sleep(0.05)


def test_drivers_started_ahead_serve_the_next_checks_and_no_more_are_made() -> None:
    """``start``: drivers come up in the background, idle once up; asked again, it makes none
    while they are idle; checks at once then take them rather than starting their own."""
    drivers = Drivers()
    try:
        drivers.start(2)
        _idle_once(drivers, 2)
        started = {worker.thread.name for worker in drivers._idle}
        drivers.start(2)
        assert not drivers._starting and len(drivers._idle) == 2
        test_checks_at_once_get_a_driver_each(drivers)  # two checks at once, then one more
        assert {worker.thread.name for worker in drivers._idle} == started
    finally:
        drivers.close()


def test_a_driver_that_fails_to_start_is_dropped_and_the_check_starts_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The environment is no verdict: a background start that fails leaves nothing idle and
    nothing counted as starting, so a check starts its own driver, and so does a later
    ``start``."""
    import playwright.sync_api

    real, calls = playwright.sync_api.sync_playwright, []

    def once_broken() -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("no driver today")
        return real()

    monkeypatch.setattr(playwright.sync_api, "sync_playwright", once_broken)
    drivers = Drivers()
    try:
        drivers.start(1)
        _idle_once(drivers, 0)
        assert calls == [1]
        assert drivers.run(_where)[0] != threading.current_thread().name
        drivers.start(2)  # one idle now: one more started
        _idle_once(drivers, 2)
        assert len(calls) == 3
    finally:
        drivers.close()
