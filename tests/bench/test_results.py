"""The benchmark's table: its shape, and the committed results (no timing is asserted)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import benchmarks.__main__ as bench
from benchmarks.__main__ import alone, console_table, results_markdown
from benchmarks.figures import Figure

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results.md"
FIGURES = [
    "parallel efficiency at 16",
    "CPU per issue, sandboxes included",
    "engine overhead per step",
    "cache reads of the 2nd+ requests",
    "time to merge, a 20 s suite",
    "suite runs per merged issue",
    "setup runs per issue",
    "worktree cost",
    "batch triage: create calls",
    "rate-limit adaptation",
    "GitHub requests per triaged issue",
    "GitHub requests for a run with nothing new",
    "GitHub requests per merged issue",
    "validation throughput",
    "landing throughput",
    "landing throughput after a failing candidate",
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
    header = (
        r"Measured at commit [0-9a-f]{12}.*, from \d{4}-\d\d-\d\d \d\d:\d\d UTC, on .+, \d+ cores"
    )
    assert re.search(header + r".*one run: every row below comes from it", text)
    assert "on their own" not in text  # no row spliced in from another run
    for name in FIGURES:
        (row,) = [line for line in text.splitlines() if line.startswith(f"| {name} |")]
        ratio = row.split(" | ")[3]
        assert re.fullmatch(r"\d+\.\d\d (ok|SHORT)", ratio), row


def test_a_figure_measured_on_its_own_is_printed_and_never_written(capsys) -> None:
    before = RESULTS.read_bytes()
    assert alone(lambda: [Figure("a part", "1", "≥ 1", 1.0)], "part") == 0
    assert "a part" in capsys.readouterr().out
    assert RESULTS.read_bytes() == before


@pytest.mark.parametrize("args", [["paralel"], ["parallel", "store"], ["--days", "3"]])
def test_a_part_it_does_not_have_is_one_line_and_exit_2_before_anything_is_measured(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A word mistyped must not start the whole run (most of an hour, results.md rewritten)."""

    def measured() -> None:
        raise AssertionError("measuring started")

    monkeypatch.setattr(bench, "scratch", measured)
    monkeypatch.setattr(sys, "argv", ["benchmarks", *args])
    assert bench.main() == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"benchmarks: no part {' '.join(args)!r}; usage")
    assert "parallel, validation" in err[0]
    monkeypatch.setattr(sys, "argv", ["benchmarks", "--help"])
    assert bench.main() == 0 and capsys.readouterr().out.startswith("usage: python -m benchmarks")
