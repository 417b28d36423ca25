"""What a cold ``factory run --once`` (cron's) would otherwise start on its way to a verdict
starts while implementation's suite runs: the browser's drivers the hold-out's checks take
(docs/architecture.md, the ``harness/browser`` row). Through ``factory implement`` on the demo app (real
sandbox, scripted model over the SDK, real Playwright)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from harness.browser import drivers as kept
from harness.caches import PROCESS
from harness.sandbox.bwrap import CommandResult, Sandbox
from harness.sandbox.shared import shared
from tests.checks_passed import analysers_find_nothing
from tests.cli_helpers import run_cli
from tests.validate.conftest import file_issues, make_app, serve

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
SUITE = "python3 -m unittest -q"  # the demo's commands.test


def test_the_test_step_starts_the_browsers_drivers_before_the_suite_runs(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within a cycle (``shared``), one driver (the demo's hold-out: one journey, one check at
    once) is made before the suite runs, and is idle once up, for the validation's first check
    to take; outside one (``factory implement`` alone: no validation follows in its process)
    none is (faults put back by hand: the test step not starting it, caught; starting it
    outside a cycle too, caught)."""
    repo, _ = make_app(tmp_path)
    analysers_find_nothing(monkeypatch)  # the security gate's: not the subject here
    drivers = kept.Drivers()  # this process's, made for this test: nothing idle before it
    monkeypatch.setitem(PROCESS._lasting, kept.Drivers, drivers)
    seen: list[str] = []
    made, ran = kept._DriverThread.__init__, Sandbox.run

    def driver(self: kept._DriverThread) -> None:
        seen.append("driver")
        made(self)

    def run(self: Sandbox, command: str, *, timeout_s: float | None = None) -> CommandResult:
        seen.append(f"{self.worktree.name}: {command}")
        return ran(self, command, timeout_s=timeout_s)

    monkeypatch.setattr(kept._DriverThread, "__init__", driver)
    monkeypatch.setattr(Sandbox, "run", run)
    cli = ("--repo", str(repo))
    try:
        for _ in serve(tmp_path, monkeypatch):
            file_issues(capsys, repo, [1, 2])
            assert run_cli(capsys, *cli, "triage").code == 0
            assert run_cli(capsys, *cli, "implement", "1").code == 0
            assert "driver" not in seen
            with shared():  # a cycle's
                assert run_cli(capsys, *cli, "implement", "2").code == 0
        # the test step's suite, in a clean copy of its own (the implementer's runs aside)
        ran_at = [n for n, said in enumerate(seen) if said.endswith(f"-implement-tests: {SUITE}")]
        assert len(ran_at) == 2 and seen.count("driver") == 1
        assert ran_at[0] < seen.index("driver") < ran_at[1]
        deadline = time.monotonic() + 120  # a wait for it to come up, not a measure
        while not drivers._idle:
            assert time.monotonic() < deadline, "the driver never came up"
            time.sleep(0.05)
        (up,) = drivers._idle
        assert drivers.run(lambda playwright: threading.current_thread()) is up.thread
        assert seen.count("driver") == 1  # the check took it: no other was made
    finally:
        drivers.close()
