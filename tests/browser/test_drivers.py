"""Kept Playwright drivers: a check borrows an idle driver (its own thread), checks at once get
drivers of their own, a check that raised leaves its driver behind, and each starts a real
confined Chromium through ``in_browser``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

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
