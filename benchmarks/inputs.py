"""How the work on a hostile or oversized input grows with it: mission.md read by ``factory
check`` and an issue body through the pre-screen, each at two sizes ten times apart (medians
of three). Linear work grows about tenfold; the quadratics these figures watch grew a hundred
times or more."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks.figures import Figure
from harness.config.mission import read_mission
from harness.config.models import Rules
from harness.forge.base import Issue
from harness.triage.prescreen import prescreen

MISSION = "# Purpose\n\nA notes app.\n\n## Out of scope\n\n- spam\n\n"
RULES = Rules.model_validate({"triage": {"max_body_chars": 2_000_000}})


def _seconds(fn: Callable[[Any], Any], arg: Any) -> float:
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        fn(arg)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def _growth(name: str, fn: Callable[[Any], Any], make: Callable[[int], Any], unit: str) -> Figure:
    small, large = _seconds(fn, make(100_000)), _seconds(fn, make(1_000_000))
    grew = large / small
    return Figure(
        name,
        f"{grew:.1f}× for 10× the input",
        "≤ 15×",
        15 / grew,
        f"100 KB {small:.3f} s, 1 MB {large:.3f} s ({unit})",
    )


def _issue(size: int) -> Issue:
    return Issue(1, "A title", "a" * size, "alice", "open", (), "", "")


def input_figures() -> list[Figure]:
    sixteen = _seconds(lambda i: prescreen(i, [], RULES, 0), _issue(16_000))
    return [
        _growth(
            "mission.md read by factory check",
            read_mission,
            lambda n: MISSION + "## Goals\ntext\n" * (n // 14),
            "the same section heading repeated: the worst shape",
        ),
        _growth(
            "pre-screen of an issue body",
            lambda i: prescreen(i, [], RULES, 0),
            _issue,
            "letters with no full stop: the worst shape",
        ),
        Figure(
            "pre-screen of 16,000 letters",
            f"{sixteen * 1000:.1f} ms",
            "≤ 100 ms",
            0.1 / max(sixteen, 1e-6),
            "an issue of letters with no full stop (9.9 s of triage before)",
        ),
    ]
