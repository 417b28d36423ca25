"""What set-up's file-access trace costs (docs/sandbox.md, "Set-up observed"): production's
set-up runs under it once per set-up key (a kept set-up is copied, not traced again), and a
change's set-up when the change touched what set-up read. One set-up — a venv and pip
installing three small wheels from the project's own wheelhouse, offline — in CPU-seconds of
every process (the sandbox's included), plain against traced (strace outside the sandbox, the
trace read into paths, the installed distributions read from their metadata); one core's
speed (``core_s``) is measured beside each run."""

from __future__ import annotations

import shutil
import statistics
import tempfile
from pathlib import Path

from benchmarks.cpu import core_s, counted
from benchmarks.figures import Figure
from harness.sandbox.bwrap import Sandbox
from harness.sandbox.limits import Limits
from harness.sandbox.policy import TREE, _opened, installed
from tests.sandbox.test_setup_observed import P, wheel

GOAL_S = 1.0  # CPU-seconds the trace may add to one set-up
SETUP = f"python3 -m venv --without-pip site && PIP_CONFIG_FILE=/dev/null {P} -r reqs.txt"


def trace_overhead(reps: int = 5) -> Figure:
    root = Path(tempfile.mkdtemp(prefix="factory-bench-trace-"))
    tree = root / "tree"
    (tree / "wheelhouse").mkdir(parents=True)
    for name in ("alpha", "beta", "gamma"):
        wheel(tree / "wheelhouse", name, "1.0")
    (tree / "reqs.txt").write_text("alpha\nbeta\ngamma\n")
    runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    try:
        for _ in range(reps):
            for traced in (False, True):
                shutil.rmtree(tree / "site", ignore_errors=True)
                speed = core_s()
                with tempfile.TemporaryDirectory(dir=root) as folder, counted() as (used, how):
                    trace = Path(folder, "trace") if traced else None
                    result = Sandbox(tree, Limits(), seen_as=TREE, trace=trace).run(SETUP)
                    if traced:  # what the harness reads of it, as a set-up's record
                        read, found = _opened(Path(folder)), installed(tree, ["site"])
                        assert "reqs.txt" in read and len(found) == 3, (read, found)
                    cpu = used()
                assert result.exit_code == 0, result.output
                runs[traced].append((cpu, speed))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    plain, under = (statistics.median(c for c, _ in runs[t]) for t in (False, True))
    speeds = [f"{s:.2f}" for t in (False, True) for _, s in runs[t]]
    added = under - plain
    return Figure(
        "set-up trace, per set-up key",
        f"+{added:.2f} CPU-s",
        f"≤ {GOAL_S:.0f} CPU-s",
        GOAL_S / max(added, 0.001),
        f"a venv and pip installing three wheels offline: {under:.2f} CPU-s traced (strace, "
        f"the trace read, the distributions read) vs {plain:.2f} CPU-s plain, medians of "
        f"{reps} each, by {how}; one core (benchmarks.cpu.core_s, 10 M additions) before "
        f"each run: {', '.join(speeds)} s",
    )
