"""The benchmark's table: its shape, and the committed results (no timing is asserted)."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.__main__ import console_table, results_markdown
from benchmarks.figures import Figure

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results.md"
FIGURES = [
    "parallel efficiency",
    "engine overhead per step",
    "cache-eligible prefix",
    "worktree cost",
    "batch triage: create calls",
    "batch triage: cost vs per-call",
    "rate-limit adaptation",
    "validation throughput",
]


def test_the_table_marks_what_falls_short() -> None:
    rows = [Figure("a figure", "0.95", "≥ 0.9", 1.05, "fine"), Figure("b", "1.8×", "≥ 2×", 0.9)]
    text = console_table(rows)
    assert text.splitlines()[0].split()[:4] == ["figure", "value", "goal", "ratio"]
    assert "1.05  ok: fine" in text and "0.90  SHORT" in text
    md = results_markdown(rows, "Measured now.", "## history\n")
    assert "| a figure | 0.95 | ≥ 0.9 | 1.05 ok | fine |" in md
    assert "| b | 1.8× | ≥ 2× | 0.90 SHORT |  |" in md and md.endswith("## history\n")


def test_the_committed_results_hold_every_figure() -> None:
    text = RESULTS.read_text()
    assert re.search(r"Measured \d{4}-\d\d-\d\d \d\d:\d\d UTC on .+, \d+ cores", text)
    for name in FIGURES:
        (row,) = [line for line in text.splitlines() if line.startswith(f"| {name} |")]
        ratio = row.split(" | ")[3]
        assert re.fullmatch(r"\d+\.\d\d (ok|SHORT)", ratio), row
