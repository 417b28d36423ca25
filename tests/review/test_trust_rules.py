"""Earned trust as configuration and as a count over evidence (no browser: the engine test
in test_trust.py drives the same code through real validations)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.governance import parse_rules
from harness.errors import ConfigError, ConfigErrors
from harness.review.trust import Evidence, state_of
from tests.cli_helpers import run_cli


def _rules(front: str):
    return parse_rules(f"---\n{front}\n---\n# rules\n")


def test_without_a_trust_entry_every_kind_merges_by_itself() -> None:
    rules = _rules("review_band: 0.7")
    assert rules.trust == {} and rules.trust_for("bug") is None


def test_a_kind_uses_its_own_rule_else_the_default() -> None:
    rules = _rules("trust: {kind:bug: {start: review, earn_after: 2}, default: {start: auto}}")
    bug, other = rules.trust_for("bug"), rules.trust_for("feature")
    assert bug is not None and bug.earn_after == 2 and bug.reset_on == ["regression", "revert"]
    assert other is not None and other.start == "auto"


@pytest.mark.parametrize(
    "front",
    [
        "trust: {bug: {start: review}}",  # not kind:<name>
        "trust: {kind:bug: {start: sometimes}}",
        "trust: {kind:bug: {earn_after: -1}}",
        "trust: {kind:bug: {reset_on: [weather]}}",
        "trust: {kind:bug: {start: review, surprise: 1}}",
    ],
)
def test_a_bad_trust_entry_is_a_config_error(front: str) -> None:
    with pytest.raises((ConfigError, ConfigErrors)):
        _rules(front)


def _e(ts: str, what: str, kind: str = "bug") -> Evidence:
    return Evidence(ts, kind, what, 1)


def test_trust_counts_approved_green_changes_of_its_kind_and_resets() -> None:
    rule = _rules("trust: {kind:bug: {start: review, earn_after: 2}}").trust_for("bug")
    assert rule is not None
    history = [
        _e("1", "approved_green"),
        _e("2", "approved_green", kind="feature"),  # another kind
        _e("3", "green"),  # merged by itself: earns nothing
    ]
    state = state_of("bug", rule, history)
    assert (state.earned, state.auto, state.reset_at) == (1, False, None)
    assert "earned after 2 approved changes that stayed green (1 so far)" in (
        state.waiting_reason()
    )
    history.append(_e("4", "approved_green"))
    assert state_of("bug", rule, history).auto is True
    for reset in ("regression", "revert"):
        state = state_of("bug", rule, [*history, _e("5", reset)])
        assert (state.earned, state.auto, state.reset_at) == (0, False, "5")


def test_reset_on_names_what_resets() -> None:
    rule = _rules("trust: {kind:bug: {earn_after: 1, reset_on: [regression]}}").trust_for("bug")
    assert rule is not None
    history = [_e("1", "approved_green"), _e("2", "revert")]
    assert state_of("bug", rule, history).auto is True  # a revert does not reset this one
    assert state_of("bug", rule, [*history, _e("3", "regression")]).auto is False


def test_init_scaffolds_review_first_for_a_new_repository(empty_repo: Path, capsys) -> None:
    assert run_cli(capsys, "--repo", str(empty_repo), "init").code == 0
    rules = parse_rules((empty_repo / "factory_rules.md").read_text())
    default = rules.trust_for("anything")
    assert default is not None and default.start == "review" and default.earn_after == 3


def test_a_revert_on_production_is_found_by_the_commit_it_undid(empty_repo: Path) -> None:
    from harness.git.repo import GitRepo
    from harness.review.trust import reverts
    from tests.conftest import git

    (empty_repo / "fix.py").write_text("x = 1\n")
    git(empty_repo, "add", "fix.py")
    git(empty_repo, "commit", "-qm", "A fix")
    fix = git(empty_repo, "rev-parse", "HEAD").strip()
    repo = GitRepo(empty_repo)
    assert reverts(repo, "main") == {}
    git(empty_repo, "revert", "--no-edit", fix)  # a person undoes it
    found = reverts(repo, "main")
    assert list(found) == [fix] and found[fix].endswith("Z")
    assert reverts(repo, "no-such-branch") == {}
