"""The benchmark's table: its shape, and the committed results (no timing is asserted)."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.__main__ import console_table, results_markdown, splice
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
    "GitHub requests per triaged issue",
    "GitHub requests for a run with nothing new",
    "GitHub requests per merged issue",
    "validation throughput",
    "landing throughput",
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


def test_figures_measured_on_their_own_replace_their_rows_and_say_when() -> None:
    md = results_markdown(
        [Figure("a", "1", "≥ 1", 1.0), Figure("b", "2", "≥ 1", 2.0)], "H", "## h\n"
    )
    once = splice(
        md,
        [Figure("b", "3", "≥ 1", 3.0), Figure("c", "4", "≥ 1", 4.0)],
        "GitHub figures measured on their own now.",
    )
    twice = splice(
        once, [Figure("c", "5", "≥ 1", 5.0)], "GitHub figures measured on their own later."
    )
    lines = twice.splitlines()
    rows = [x for x in lines if x.startswith("| ") and not x.startswith("| figure")]
    assert rows == [
        "| a | 1 | ≥ 1 | 1.00 ok |  |",
        "| b | 3 | ≥ 1 | 3.00 ok |  |",
        "| c | 5 | ≥ 1 | 5.00 ok |  |",
    ]
    assert [x for x in lines if "on their own" in x] == [
        "GitHub figures measured on their own later."
    ]
    assert twice.endswith("## h\n")
