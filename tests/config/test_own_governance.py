"""The harness runs on itself: its own governance files pass its own checks."""

from __future__ import annotations

from pathlib import Path

from harness.config.governance import parse_rules
from harness.config.mission import check_mission
from harness.globs import matching

ROOT = Path(__file__).resolve().parents[2]


def test_own_mission_is_complete() -> None:
    assert check_mission((ROOT / "mission.md").read_text(encoding="utf-8")) == []


def test_own_rules_protect_what_decides_and_merges() -> None:
    rules = parse_rules((ROOT / "factory_rules.md").read_text(encoding="utf-8"))
    must = [
        "mission.md",
        "factory_rules.md",
        "CLAUDE.md",
        "factory.yaml",
        ".github/workflows/nightly.yml",
        "pyproject.toml",
        "harness/implement/gates.py",
        "harness/validate/run.py",
        "harness/sandbox/bwrap.py",
        "harness/config/models.py",
        "validators/sealed_browser.yaml",
        "workflows/triage.yaml",
        "workflows/prompts/triage.md.j2",
    ]
    assert [p for p in must if not matching(p, rules.protected_paths)] == []
    assert not matching("harness/cli/issue.py", rules.protected_paths)
    assert rules.review_band <= rules.auto_merge.min_score


def test_own_claude_md_says_how_to_test() -> None:
    text = (ROOT / "CLAUDE.md").read_text(encoding="utf-8")
    assert "## How to test" in text and "make test" in text
