"""The review gate after the deterministic routing: what an approval lifts and what it never
does. The engine tests (test_decisions.py, test_trust.py) drive it through real validations;
here each case is checked on its own against a real store, repository and local forge."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.artifacts import Routing
from harness.config.governance import parse_rules
from harness.config.models import Backtest
from harness.forge.local import LocalForge
from harness.git.repo import GitRepo
from harness.review.trust import APPROVE_EVENT, review_gate
from harness.store.db import Store

HEAD = "a" * 40


def _services(tmp_path: Path, repo: Path, front: str = "review_band: 0.7") -> Any:
    store = Store.open(tmp_path / "state")
    rules = parse_rules(f"---\n{front}\n---\n")
    settings = SimpleNamespace(
        config=SimpleNamespace(production_branch="main", backtest=Backtest()),
        governance=SimpleNamespace(rules=rules),
    )
    git = GitRepo(repo)
    return SimpleNamespace(settings=settings, store=store, repo=git, forge=LocalForge(store, git))


def _routing(route: str, reason: str = "validator score 0.80 is in the review band") -> Routing:
    return Routing(route=route, reason=reason, score=0.8, verdict="pass", gates=[], fix_attempts=0)


def _approve(services: Any, head: str = HEAD, issue: int = 7) -> None:
    data = {"issue": issue, "actor": "alice", "head": head}
    services.store.append_event(None, APPROVE_EVENT, data)


def test_an_approval_of_this_head_lifts_the_wait_for_review(tmp_path: Path, empty_repo) -> None:
    services = _services(tmp_path, empty_repo)
    assert review_gate(services, 7, HEAD, "bug", _routing("needs_review")).route == "needs_review"
    _approve(services, head="b" * 40)  # another head: a later push is not approved
    _approve(services, issue=8)  # another issue
    assert review_gate(services, 7, HEAD, "bug", _routing("needs_review")).route == "needs_review"
    _approve(services)
    lifted = review_gate(services, 7, HEAD, "bug", _routing("needs_review"))
    assert lifted.route == "merge" and "approved by alice" in lifted.reason
    assert "review band" in lifted.reason  # why it had waited stays in the record


@pytest.mark.parametrize("route", ["retry", "failed", "holdout_conflict"])
def test_an_approval_never_lifts_a_failed_gate(tmp_path: Path, empty_repo, route: str) -> None:
    services = _services(tmp_path, empty_repo)
    _approve(services)
    assert review_gate(services, 7, HEAD, "bug", _routing(route)).route == route


def test_an_approval_never_lifts_ci_that_failed(tmp_path: Path, empty_repo) -> None:
    services = _services(tmp_path, empty_repo)
    _approve(services)
    services.forge.record_ci(HEAD, "failure")
    assert review_gate(services, 7, HEAD, "bug", _routing("needs_review")).route == "needs_review"


def test_trust_not_earned_turns_a_merge_into_a_wait(tmp_path: Path, empty_repo) -> None:
    front = "trust: {kind:bug: {start: review, earn_after: 1}, kind:docs: {start: auto}}"
    services = _services(tmp_path, empty_repo, front)
    held = review_gate(services, 7, HEAD, "bug", _routing("merge", "every gate passed"))
    assert held.route == "needs_review"
    assert held.reason == (
        "trust for kind:bug is earned after 1 approved changes that stayed green (0 so far)"
    )
    for kind in ("docs", "feature"):  # auto, and a kind no rule covers: merge by themselves
        assert review_gate(services, 7, HEAD, kind, _routing("merge")).route == "merge"
    _approve(services)  # a person approves this head: it merges
    assert review_gate(services, 7, HEAD, "bug", _routing("merge")).route == "merge"
