"""Earned trust through the engine: with ``trust: {kind:bug: {start: review, earn_after: 1}}``
the first passing bug fix waits for a person, the next merges by itself once that one was
approved, and a regression of that kind starts the count over (the package's
``trust_story``; ``test_trust_rules.py`` counts approvals past one on the records validation
writes)."""

from __future__ import annotations

import pytest

from harness.store.db import Store
from tests.review.conftest import Story

# the story is a package fixture test_decisions.py reads too: one worker plays it
pytestmark = [pytest.mark.browser, pytest.mark.timeout(1800), pytest.mark.together("review-story")]


def test_trust_is_earned_by_approved_green_changes_and_reset_by_a_regression(
    trust_story: Story,
) -> None:
    story = trust_story
    # the first waits, and is approved; the cycle that left it waiting ran: exit 0, and says
    # who waits (a scheduler's --fail-on-waiting exits 3 on it)
    cycle = story.first_cycle
    assert cycle.code == 0, cycle.err
    (validated,) = cycle.json()["validate"]
    assert validated["route"] == "needs_review" and cycle.json()["waiting"] == [story.first]
    assert "factory:needs-review" in story.waiting_labels, story.waiting_labels
    reason = story.waited[-1].replace("  \n", " ")
    assert "is earned after 1 approved changes that stayed green (0 so far)" in reason, reason
    assert story.trust_waiting["auto"] is False and story.trust_waiting["earned"] == 0
    assert story.killed == [-9, -9]  # approved, killed; killed after the merge; finished
    assert "factory:merged" in story.approved_issue["labels"]
    state = story.trust_earned
    assert state["earned"] == 1 and state["auto"] is True

    # trust earned: the next merges by itself (no person approved it)
    merged = [c for c in story.regressed_issue["comments"] if "**Merged**" in c["body"]]
    assert len(merged) == 1 and "approved by" not in merged[0]["body"], merged
    store = Store.open(story.state)
    runs = store.list_runs(limit=None, workflow="validate", issue=story.second)
    steps = [
        {s.step_id: s.outputs for s in store.steps(r.id) if s.status == "succeeded"} for r in runs
    ]
    (landed,) = [s for s in steps if s.get("merge")]
    assert landed["decide"]["route"] == "merge" and landed["merge"]["merge_sha"]

    # a regression of that kind: the smoke run after the merge fails and is reverted
    assert landed["smoke"]["reverted"]
    assert "factory:regression" in story.regressed_issue["labels"]
    state = story.trust_reset
    assert state["earned"] == 0 and state["auto"] is False and state["reset_at"]

    # the maintainer takes the journey back; the fix is implemented again and now waits
    assert "factory:needs-review" in story.waiting_again_labels, story.waiting_again_labels
    reason = story.waited_again[-1]
    assert "(0 so far)" in reason and "needs a maintainer's review" in reason, reason
    approvals = [e.data["issue"] for e in store.events() if e.kind == "human.approve"]
    assert approvals == [story.first]
