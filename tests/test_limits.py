"""Each test's time limit is in seconds of an idle machine (``tests/limits.py``): a test that
hangs is stopped and fails with its stack, and a test that is only slow because the machine
is busy is given the time the load takes from it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.limits import REFERENCE_CORE_S, machine_share

ROOT = Path(__file__).resolve().parents[1]
SLEEPS = """
import time

import pytest


@pytest.mark.timeout(1)
def test_sleeps():
    time.sleep(float(__import__("os").environ["SLEEP_S"]))
"""


def test_a_second_counts_as_the_share_of_an_idle_core_a_process_gets() -> None:
    assert machine_share(1, 2, REFERENCE_CORE_S) == 1.0  # idle: a second is a second
    assert machine_share(40, 2, REFERENCE_CORE_S) == 0.05  # load 40 on two cores
    assert machine_share(2, 0.1, REFERENCE_CORE_S) == 0.05  # a tenth of a CPU's quota
    assert machine_share(2, 2, 2 * REFERENCE_CORE_S) == 0.5  # a core half as fast
    assert machine_share(1, 2, REFERENCE_CORE_S / 2) == 1.0  # never shorter than the wall


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, sleep_s: float, load: int):
    pytester.makepyfile(test_sleeps=SLEEPS)
    # the machine as the clock sees it: ``load`` processes that can run on two CPUs, looked
    # at every 0.1 s
    pytester.makeconftest(
        f"import tests.limits as limits\nlimits._runnable = lambda: {load}\n"
        "limits._cpus = lambda: 2.0\nlimits.TICK_S = 0.1\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("SLEEP_S", str(sleep_s))
    return pytester.runpytest_subprocess("-p", "tests.limits", "-p", "no:timeout")


def test_a_test_that_hangs_fails_with_its_stack(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(pytester, monkeypatch, 3600, load=1)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "over its time limit in seconds of an idle machine" in out, out
    assert "test_sleeps.py::test_sleeps (test): over its limit of 1 s" in out, out
    assert 'test_sleeps.py", line 8 in test_sleeps' in out, out  # where it hung: its stack


def test_a_test_slowed_by_a_busy_machine_is_given_the_time(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two seconds of wall at load 40 on two CPUs are a tenth of a second of an idle machine:
    well inside the test's one."""
    _run(pytester, monkeypatch, 2, load=40).assert_outcomes(passed=1)


def test_a_cpu_quota_counts_as_fewer_cpus() -> None:
    """A process held to a tenth of a CPU (its cgroup's quota) is counted as having that."""
    group = Path("/sys/fs/cgroup/cpu") / f"test-limits-{os.getpid()}"
    try:
        group.mkdir()
    except OSError:
        pytest.skip("no cgroup v1 cpu controller this process may write to")
    try:
        (group / "cpu.cfs_quota_us").write_text("10000")  # of a 100,000 µs period
        probe = f"echo $$ > {group}/cgroup.procs && exec {sys.executable} -c "
        probe += "'from tests.limits import _cpus; print(_cpus())'"
        out = subprocess.run(["sh", "-c", probe], cwd=ROOT, capture_output=True, text=True)
        assert float(out.stdout) == pytest.approx(0.1), out
    finally:
        group.rmdir()
