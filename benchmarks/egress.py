"""What the egress proxy costs each ``commands.setup``: a set-up that does nothing, run in the
sandbox through the proxy (squid started, the command, squid stopped and its log read)
against the same command with no network at all."""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.figures import Figure
from harness.sandbox.bwrap import Sandbox
from harness.sandbox.egress import EgressProxy
from harness.sandbox.limits import Limits

GOAL_S = 2.0  # what the proxy may add to one set-up


def egress_overhead(reps: int = 5) -> Figure:
    root = Path(tempfile.mkdtemp(prefix="factory-bench-egress-"))
    (root / "wt").mkdir()
    plain, proxied, start, stop = [], [], [], []
    try:
        for _ in range(reps):
            began = time.monotonic()
            Sandbox(root / "wt", Limits()).run("true")
            plain.append(time.monotonic() - began)
            began = time.monotonic()
            with EgressProxy(root / "state", ["pypi.org"]) as proxy:
                start.append(time.monotonic() - began)
                Sandbox(root / "wt", Limits(), egress=proxy.socket).run("true")
                stopping = time.monotonic()
            stop.append(time.monotonic() - stopping)
            proxied.append(time.monotonic() - began)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    added = statistics.median(proxied) - statistics.median(plain)
    return Figure(
        "egress proxy per set-up",
        f"+{added:.2f}s",
        f"≤ {GOAL_S:.0f}s",
        GOAL_S / max(added, 0.001),
        f"a set-up of `true`: {statistics.median(proxied):.2f}s through the proxy vs "
        f"{statistics.median(plain):.2f}s with no network; squid ready in "
        f"{statistics.median(start):.2f}s, stopped (open connections logged) in "
        f"{statistics.median(stop):.2f}s, of which squid's shutdown waits 1 s by design; "
        f"medians of {reps}",
    )
