"""The suite's cost, seen by the run itself (``tests/costs.py``): each module's CPU — its tests'
processes and what they start — recorded under xdist as without it, the costliest listed at
the end of the run, and a module whose cost grew past its record named there (a warning: the
run still passes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# a module whose test makes a child process spend BURN_S seconds of CPU
BURNER = """
import os, subprocess, sys

def test_burns():
    burn = "import time\\nstart = time.process_time()\\nwhile time.process_time() - start < {}: pass"
    subprocess.run([sys.executable, "-c", burn.format(os.environ["BURN_S"])], check=True)
"""


def test_a_module_whose_cost_doubled_is_named_at_the_end_of_the_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_burner=BURNER, test_idle="def test_nothing():\n    pass\n")
    record = pytester.path / "costs.json"
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    args = ("-p", "tests.costs", f"--module-costs={record}", "--cost-floor=0.1")
    core = "--core-s=0.4"  # one core's speed as given: the comparison is the module's alone
    monkeypatch.setenv("BURN_S", "0.25")
    # recorded under xdist, compared without it: the figures are the same module's either way
    first = pytester.runpytest_subprocess(*args, "-n", "1", core, "--record-module-costs")
    first.assert_outcomes(passed=2)
    recorded = json.loads(record.read_text())
    burner = recorded["test_burner.py"]
    assert burner["cpu_s"] >= 0.25 and burner["tests"] == 1  # the child's CPU is the module's
    assert burner["core_s"] == 0.4 and "test_idle.py" in recorded
    first.stdout.fnmatch_lines(["*cost by module*", "*  test_burner.py", "total: *CPU-s*"])
    assert "cost more than recorded" not in first.stdout.str()

    monkeypatch.setenv("BURN_S", "0.5")  # the module's cost, doubled on purpose
    second = pytester.runpytest_subprocess(*args, "-n", "0", core)
    second.assert_outcomes(passed=2)  # a warning, never a failure
    grown = second.stdout.str().split("modules that cost more than recorded")[-1]
    assert "test_burner.py: " in grown and "recorded" in grown, second.stdout.str()
    assert "test_idle.py" not in grown
    assert json.loads(record.read_text()) == recorded  # recorded only when asked
    # the same doubled cost on a core half as fast: the machine's load explains it
    slower = pytester.runpytest_subprocess(*args, "-n", "0", "--core-s=0.8")
    assert "modules that cost more than recorded" not in slower.stdout.str(), slower.stdout.str()
