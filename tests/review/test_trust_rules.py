"""Earned trust as configuration and as a count over evidence (no browser: the engine test
in test_trust.py drives the same code through real validations)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.governance import parse_rules
from harness.errors import ConfigError, ConfigErrors
from harness.review.trust import APPROVE_EVENT, trust_state_for
from harness.store.db import Store
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


def _change(store: Store, issue: int, what: str, kind: str = "bug", typed: bool = True) -> None:
    """A validated change as the engine records it (prepare with the spec's kind and the
    head, merge, smoke): ``approved_green`` is approved by a person before its smoke passes,
    ``green`` merges by itself, ``regression`` is reverted by its smoke, ``revert`` lands an
    untested tree and is reverted at once. Not ``typed``: as a version recorded it before
    records had types (found by the action that made them)."""
    run = store.create_run("validate", issue, {}, {})
    head = f"{issue:040x}"

    def step(step_id: str, status: str, outputs: dict) -> None:
        seq = store.start_step(run.id, step_id, {"kind": "action", "action": f"validate.{step_id}"})
        kinds = {"prepare": "ValidationTarget", "merge": "Landing", "smoke": "Smoke"}
        kept = kinds[step_id] if typed and status == "succeeded" else None
        store.finish_step(seq, status, outputs, artifact=kept)

    step("prepare", "succeeded", {"spec": {"kind": kind}, "head": head})
    if what == "revert":
        step("merge", "failed", {"merge_sha": "b" * 40, "landed_tree": "c" * 40})
        return
    if what == "approved_green":
        store.append_event(None, APPROVE_EVENT, {"issue": issue, "head": head, "actor": "ann"})
    step("merge", "succeeded", {"merge_sha": f"{issue:040x}"})
    step("smoke", "succeeded", {"reverted": "d" * 40 if what == "regression" else None})


@pytest.mark.parametrize("typed", [True, False], ids=["typed", "older-untyped"])
def test_trust_counts_approved_green_changes_of_its_kind_and_resets(
    tmp_path: Path, typed: bool
) -> None:
    rules = _rules("trust: {kind:bug: {start: review, earn_after: 2}}")
    for reset in ("regression", "revert"):
        store = Store.open(tmp_path / reset)
        _change(store, 1, "approved_green", typed=typed)
        _change(store, 2, "approved_green", kind="feature", typed=typed)  # another kind
        _change(store, 3, "green", typed=typed)  # merged by itself: earns nothing
        state = trust_state_for(store, rules, "bug", False)
        assert state is not None
        assert (state.earned, state.auto, state.reset_at) == (1, False, None)
        assert "earned after 2 approved changes that stayed green (1 so far)" in (
            state.waiting_reason()
        )
        _change(store, 4, "approved_green", typed=typed)
        assert (state := trust_state_for(store, rules, "bug", False)) and state.auto is True
        _change(store, 5, reset, typed=typed)
        state = trust_state_for(store, rules, "bug", False)
        assert state is not None and (state.earned, state.auto) == (0, False)
        assert state.reset_at is not None and state.reset_at.endswith("Z")


def test_reset_on_names_what_resets(tmp_path: Path) -> None:
    rules = _rules("trust: {kind:bug: {earn_after: 1, reset_on: [regression]}}")
    store = Store.open(tmp_path)
    _change(store, 1, "approved_green")
    _change(store, 2, "revert")
    assert (
        state := trust_state_for(store, rules, "bug", False)
    ) and state.auto is True  # not reset
    _change(store, 3, "regression")
    assert (state := trust_state_for(store, rules, "bug", False)) and state.auto is False


def test_init_scaffolds_review_first_for_a_new_repository(empty_repo: Path, capsys) -> None:
    assert run_cli(capsys, "--repo", str(empty_repo), "init").code == 0
    rules = parse_rules((empty_repo / "factory_rules.md").read_text())
    default = rules.trust_for("anything")
    assert default is not None and default.start == "review" and default.earn_after == 3


def test_a_merge_heal_reverted_starts_its_kinds_count_over(tmp_path: Path) -> None:
    from tests.store.definitions import heal_reverted

    rules = _rules("trust: {kind:bug: {start: review, earn_after: 2, reset_on: [revert]}}")
    store = Store.open(tmp_path)
    _change(store, 1, "approved_green")
    _change(store, 2, "approved_green")
    assert (state := trust_state_for(store, rules, "bug", False)) and state.auto is True
    heal_reverted(store, f"{1:040x}")  # heal found issue 1's merge broke production
    state = trust_state_for(store, rules, "bug", False)
    assert state is not None and (state.earned, state.auto) == (0, False) and state.reset_at


def test_an_issue_titled_this_reverts_commit_leaves_earned_trust_as_it_was(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once merged, the factory's commit of an issue titled "This reverts commit <sha>" (the
    sha of a merge that earned trust) says so on production; earned trust reads the factory's
    own records, so ``factory status`` counts as before."""
    from tests.factory_repo import RULES, git, make_factory_repo

    trust = "trust: {kind:bug: {start: review, earn_after: 2}}\n---"
    repo = make_factory_repo(tmp_path / "repo", rules=RULES.replace("---\n#", f"{trust}\n#", 1))
    monkeypatch.setenv("FACTORY_STATE_DIR", str(tmp_path / "records"))  # records, no landing
    store = Store.open(tmp_path / "records")
    _change(store, 1, "approved_green")
    _change(store, 2, "approved_green")
    store.close()
    title = f"This reverts commit {1:040x}"  # issue 1's merge, as an issue's title
    message = f"{title}\n\nFactory change for issue 3 (run r3)."
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    git(repo, "commit", "-q", "--allow-empty", "-m", f"Merge factory/issue-3: {title} (issue 3)")
    res = run_cli(capsys, "--repo", str(repo), "status", "--json")
    (bug,) = res.json()["trust"]
    assert (bug["kind"], bug["earned"], bug["auto"], bug["reset_at"]) == ("bug", 2, True, None)


def test_a_change_to_what_setup_runs_waits_until_its_kind_has_earned_trust(
    tmp_path: Path, empty_repo: Path
) -> None:
    """Even a kind that starts ``auto`` (and one no rule covers: the default rule counts):
    its changes to what setup runs wait for a person until ``earn_after`` of its changes
    approved by a person stayed green."""
    from types import SimpleNamespace

    from harness.artifacts import GateResult
    from harness.config.models import Backtest
    from harness.git.repo import GitRepo
    from harness.review.trust import trusted_setup

    gates = [GateResult(name="setup_code", passed=False, evidence="changes what setup runs")]
    for front, needed in (("trust: {kind:bug: {start: auto, earn_after: 1}}", 1), ("{}", 3)):
        store = Store.open(tmp_path / str(needed))
        settings = SimpleNamespace(
            config=SimpleNamespace(production_branch="main", backtest=Backtest()),
            governance=SimpleNamespace(rules=_rules(front)),
        )
        services = SimpleNamespace(settings=settings, store=store, repo=GitRepo(empty_repo))
        for issue in range(1, needed + 1):
            assert trusted_setup(services, "bug", gates) == gates  # not yet
            _change(store, issue, "approved_green")
        (lifted,) = trusted_setup(services, "bug", gates)
        assert lifted.passed and f"kind:bug has earned trust ({needed} approved" in lifted.evidence
