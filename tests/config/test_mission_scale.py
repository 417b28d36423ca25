"""``factory check`` reads mission.md in time linear in its size: the work is counted (lines
run), so a quadratic shows on any machine; and a megabyte goes through the real command."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.config.mission import read_mission
from tests.cli_helpers import run_cli
from tests.work_count import growth

BASE = "# Purpose\n\nA notes app.\n\n## Out of scope\n\n- spam\n\n"


def _repeat(unit: str) -> Callable[[int], str]:
    return lambda size: BASE + unit * (size // len(unit))


SHAPES = {  # what a long mission.md may be made of
    "one-section-again": _repeat("## Goals\ntext\n"),
    "setext-again": _repeat("Goals\n-----\n"),
    "other-headings": _repeat("## Random thing\ntext\n"),
    "nested-headings": _repeat("## Goals\n### Detail\n#### More\ntext\n"),
    "list-items": _repeat("- an item\n"),
    "paragraphs": _repeat("Some words about the app.\n\n"),
    "brackets": _repeat("[a]("),
}


@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
def test_reading_mission_grows_linearly(shape: str) -> None:
    # five times the text: about five times the work (a section's end found by rescanning
    # the headings after it, the quadratic this replaced: over 7 on the shapes with headings)
    assert growth(read_mission, SHAPES[shape], 2_000, 5) < 6.5


@pytest.mark.slow
def test_check_reads_a_megabyte_mission_and_says_each_thing_once(
    inited: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mission = inited / "mission.md"
    text = mission.read_text() + "## Goals\ntext\n" * (1_000_000 // 14)
    mission.write_text(text)
    res = run_cli(capsys, "--repo", str(inited), "check", "--json")
    report = res.json()
    assert report["ok"], report["errors"]
    again = [w for w in report["warnings"] if "also read as" in w]
    assert len(again) == 1 and f"and {1_000_000 // 14 - 3:,} more" in again[0], again
