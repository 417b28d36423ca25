"""Governance files come from the production branch, are parsed strictly and are hashed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from harness.config.governance import load_governance, parse_rules
from harness.config.mission import check_mission, read_mission
from harness.config.models import Rules
from harness.errors import ConfigError, ConfigErrors
from harness.git.repo import GitRepo
from tests.conftest import git

MISSION = """# Mission
## Purpose
Keep notes.
## Users
People with notes.
## Capabilities
- add a note
## Out of scope
- payments
## Invariants
- notes are never lost
"""


def test_loaded_from_the_production_branch_not_the_working_tree(inited: Path) -> None:
    committed = (inited / "mission.md").read_bytes()
    (inited / "mission.md").write_text("# edited, not committed\n")
    (inited / "CLAUDE.md").unlink()
    rules = inited / "factory_rules.md"
    rules.write_text(rules.read_text().replace("min_score: 0.9", "min_score: 0.1"))
    gov = load_governance(GitRepo(inited), "main", True)
    assert gov.mission.encode() == committed
    assert gov.rules.auto_merge.min_score == 0.9
    assert "Technical context" in gov.claude
    assert gov.commit == git(inited, "rev-parse", "main").strip()


def test_candidate_branches_never_count(inited: Path) -> None:
    git(inited, "checkout", "-qb", "factory/issue-1")
    rules = inited / "factory_rules.md"
    rules.write_text(rules.read_text().replace("max_changed_lines: 500", "max_changed_lines: 9"))
    git(inited, "commit", "-qam", "loosen the rules")
    git(inited, "tag", "main")  # a tag named like the branch must not shadow it
    assert load_governance(GitRepo(inited), "main", True).rules.max_changed_lines == 500


def test_sha256_of_the_committed_bytes_in_prompt_order(inited: Path) -> None:
    gov = load_governance(GitRepo(inited), "main", True)
    names = [name for name, _ in gov.texts()]
    assert names == ["mission.md", "factory_rules.md", "CLAUDE.md"]
    for name, text in gov.texts():
        blob = git(inited, "show", f"main:{name}").encode()
        assert text.encode() == blob
        assert gov.hashes[name] == hashlib.sha256(blob).hexdigest()


def test_a_file_missing_on_the_branch_is_an_error(inited: Path) -> None:
    git(inited, "rm", "-q", "CLAUDE.md")
    git(inited, "commit", "-qm", "drop")
    with pytest.raises(ConfigErrors) as caught:
        load_governance(GitRepo(inited), "main", True)
    assert [str(p) for p in caught.value.problems] == [
        "CLAUDE.md: (file): missing on the production branch 'main'"
    ]


def test_an_unknown_branch_is_an_error(inited: Path) -> None:
    with pytest.raises(ConfigErrors, match="production_branch: branch 'prod' has no commits"):
        load_governance(GitRepo(inited), "prod", True)


def test_a_committed_mistake_stops_the_load(inited: Path) -> None:
    mission = inited / "mission.md"
    mission.write_text(mission.read_text().replace("## Out of scope", "## Later"))
    git(inited, "commit", "-qam", "rename a section")
    with pytest.raises(ConfigErrors, match=r"mission.md: ## Out of scope: required section"):
        load_governance(GitRepo(inited), "main", True)


def test_the_mission_sections() -> None:
    assert check_mission(MISSION) == []
    assert check_mission(MISSION.replace("## Purpose", "## PURPOSE ##")) == []
    fenced = MISSION.replace("## Purpose\n", "```\n## Purpose\n```\n")
    assert [str(p).split(" (")[0] for p in check_mission(fenced)] == [
        "mission.md: ## Purpose: required section is missing"
    ]
    nested = MISSION.replace("- payments", "### Never\n- payments")
    assert check_mission(nested) == []  # ### stays inside ## Out of scope
    prose = MISSION.replace("- payments", "Payments.")
    assert [str(p) for p in check_mission(prose)] == [
        "mission.md: ## Out of scope: needs at least one list item (- something)"
    ]
    assert check_mission(MISSION.replace("- payments", "1. payments")) == []


OWN_WORDS = """Notes app
=========

  ## What this is about
Keep notes.

## Core capabilities
- add a note

```
## Out of scope
```

Non-goals
---------
* payments

### Hard invariants (never broken)
- notes are never lost

## Hard Invariants
- a duplicate
"""


def test_sections_recognised_by_meaning() -> None:
    reading = read_mission(OWN_WORDS)
    assert reading.errors == []
    found = {key: (s.heading, s.line) for key, s in reading.sections.items()}
    assert found == {
        "purpose": ("What this is about", 4),  # indented ATX heading
        "capabilities": ("Core capabilities", 7),
        "out_of_scope": ("Non-goals", 14),  # setext; the fenced one is code
        "invariants": ("Hard Invariants", 21),  # the ### is nested in Non-goals
    }
    assert reading.notes[0] == "mission.md: Purpose <- 'What this is about' (line 4)"
    assert any("no users section" in w for w in reading.warnings)


@pytest.mark.parametrize(
    "heading",
    ["Out-of-scope", "NON-GOALS", "What we won't build", "Not in scope", "Out of Scope (v1)"],
)
def test_out_of_scope_synonyms(heading: str) -> None:
    text = MISSION.replace("## Out of scope", f"## {heading}")
    reading = read_mission(text)
    assert reading.errors == [] and reading.sections["out_of_scope"].heading == heading


def test_only_purpose_and_out_of_scope_are_required() -> None:
    bare = "# X\n## Purpose\nKeep notes.\n## Non-goals\n- payments\n"
    reading = read_mission(bare)
    assert reading.errors == [] and len(reading.warnings) == 3
    without = [str(p) for p in check_mission("# X\n## Purpose\nKeep notes.\n")]
    assert len(without) == 1 and without[0].startswith(
        "mission.md: ## Out of scope: required section is missing"
    )


def test_front_matter() -> None:
    assert parse_rules("# Rules\n\nno front matter\n") == Rules()
    assert parse_rules("\ufeff---\nmax_changed_lines: 10\n---\nbody\n").max_changed_lines == 10
    assert parse_rules("---\n---\nbody\n") == Rules()
    with pytest.raises(ConfigError, match="line 3: invalid YAML"):
        parse_rules("---\nreview_band: 0.5\nbudgets: {per_day_usd: 1\n---\n")
    with pytest.raises(ConfigError, match="line 3: duplicate key 'review_band'"):
        parse_rules("---\nreview_band: 0.5\nreview_band: 0.6\n---\n")
    with pytest.raises(ConfigError, match=r"\(top\): the front matter must be a mapping of keys"):
        parse_rules("---\n- a list\n---\n")
    with pytest.raises(ConfigError, match="front matter: starts with --- but has no closing"):
        parse_rules("---\nreview_band: 0.5\n")
