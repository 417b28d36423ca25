"""protected_paths globs: refused when unusable, and the governance files always covered."""

from __future__ import annotations

import pytest

from harness.config.governance import parse_rules
from harness.config.models import Rules
from harness.errors import ConfigErrors
from harness.globs import glob_problem, matching

GOVERNANCE = ["mission.md", "factory_rules.md", "CLAUDE.md", "factory.yaml"]


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("", "an empty pattern"),
        ("   ", "an empty pattern"),
        (" src/**", "leading or trailing spaces"),
        ("/etc/passwd", "is absolute"),
        ("C:/x", "is absolute"),
        ("../other/**", "leaves the repository"),
        ("src/../../x", "leaves the repository"),
        ("src\\app.py", "backslashes"),
        ("src/[abc", "unbalanced [ ]"),
        ("src/abc]", "unbalanced [ ]"),
        ("src/[[a]]", "unbalanced [ ]"),
        ("src/[z-a].py", "not a valid pattern"),
        ("!mission.md", "negates"),
        ("#x", "comment"),
    ],
)
def test_bad_globs(pattern: str, problem: str) -> None:
    found = glob_problem(pattern)
    assert found is not None and problem in found


@pytest.mark.parametrize(
    ("pattern", "path", "hit"),
    [
        ("mission.md", "mission.md", True),
        ("mission.md", "docs/mission.md", True),  # no slash: any folder
        ("MISSION.md", "mission.md", True),
        ("*.md", "CLAUDE.md", True),
        ("*.md", "docs/a.md", True),
        (".github/**", ".github/workflows/ci.yml", True),
        (".github/**", "src/.github", False),
        ("src/*.py", "src/a/b.py", False),
        ("src/**/b.py", "src/b.py", True),
        ("src/**/b.py", "src/a/c/b.py", True),
        ("docs/", "docs/guide/x.md", True),
        ("file[0-9].txt", "file7.txt", True),
        ("file[!0-9].txt", "file7.txt", False),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("tests", "tests/unit/test_a.py", True),  # a bare folder name covers its contents
        ("tests", "web/tests/b.py", True),
        ("tests", "tests.py", False),
        ("docs", "docs/guide/x.md", True),
        ("docs/**", "docs/guide/x.md", True),
        ("src/tests", "src/tests/a.py", True),
        ("src/tests", "web/src/tests/a.py", False),  # a slash anchors at the root
        ("données/*.csv", "données/a.csv", True),  # paths as git -z gives them, unquoted
        ("*.md", "café/Ünïcode.MD", True),
        ("Ünïcode/", "ünïcode/x", True),
    ],
)
def test_matching(pattern: str, path: str, hit: bool) -> None:
    assert bool(matching(path, [pattern])) is hit
    assert glob_problem(pattern) is None


def test_governance_files_must_stay_protected() -> None:
    assert Rules.model_validate({"protected_paths": ["*.md", "factory.yaml"]})
    for name in GOVERNANCE:
        rest = [p for p in GOVERNANCE if p != name]
        with pytest.raises(ConfigErrors) as caught:
            parse_rules("---\nprotected_paths: [" + ", ".join(rest) + "]\n---\n")
        assert [str(p) for p in caught.value.problems] == [
            f"factory_rules.md: protected_paths: must protect the governance files; missing {name}"
        ]


def test_default_rules_are_the_spec_defaults() -> None:
    rules = Rules()
    assert rules.protected_paths == [*GOVERNANCE, ".github/**", ".factory/**"]
    assert (rules.auto_merge.enabled, rules.auto_merge.min_score) == (True, 0.9)
    assert rules.auto_merge.require_ci and rules.review_band == 0.7
    assert (rules.max_changed_lines, rules.max_fix_attempts) == (500, 2)
    assert (rules.budgets.per_issue_usd, rules.budgets.per_run_usd) == (2.0, 20.0)
    assert rules.budgets.per_day_usd == 50.0
    assert (rules.triage.max_issues_per_run, rules.triage.max_issues_per_author_per_day) == (10, 3)
    assert (rules.triage.max_body_chars, rules.triage.max_title_chars) == (20_000, 256)
    assert rules.triage.trusted_authors == [] and not rules.triage.untrusted_requires_label
