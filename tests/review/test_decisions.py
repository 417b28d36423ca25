"""``factory approve`` and ``factory reject`` through the engine, the scripted model behind
the stand-in Messages API, and the local forge (on the package's ``trust_story``: the bug fix
that waits for trust is approved, the one implemented again after its regression rejected)."""

from __future__ import annotations

import pytest

from harness.forge.local import LocalForge
from harness.git.repo import GitRepo
from harness.store.db import Store
from tests.review.conftest import Story
from tests.store_reads import verify_chain

# the story is a package fixture test_trust.py reads too: one worker plays it
pytestmark = [pytest.mark.browser, pytest.mark.timeout(900), pytest.mark.together("review-story")]


def test_approve_lands_the_tested_tree_and_reject_closes_with_one_comment(
    trust_story: Story,
) -> None:
    story = trust_story
    # every gate passed; trust is not earned yet: it waits for a person
    assert "factory:needs-review" in story.waiting_labels, story.waiting_labels
    assert any("is earned after 1 approved changes" in b for b in story.waited), story.waited
    # its comment cites the rule that held it: earned trust, not the merge gate's scores
    rules = {x for b in story.waited for x in b.splitlines() if x.startswith("Rule: ")}
    assert rules == {"Rule: factory_rules.md — trust (kind:bug): earned trust."}, rules
    # factory approve says at once what it does while validation runs, as factory run does
    assert f"factory approve: issue {story.first}: validating PR " in story.approve_said
    store = Store.open(story.state)

    # the approval was killed after it decided to merge; the next cycle took it up and was
    # killed right after the merge (T23): the change is on production and every decision says
    # so, in one line, deciding nothing; the cycle after finishes it
    assert story.killed == [-9, -9] and story.main_after_kill != story.main_before_approval
    for res in story.when_killed:
        assert res.code == 2 and res.err.count("\n") == 1, res.err
        assert "has already landed on production" in res.err and "rejected" not in res.err
    (row,) = story.finished["validate"]
    assert (row["issue"], row["status"], row["route"]) == (story.first, "succeeded", "merge")
    assert row["merge_sha"] == story.main_after_kill and not row["reverted"]
    data = story.approved_issue
    assert data["state"] == "closed" and "factory:merged" in data["labels"]
    assert "factory:needs-review" not in data["labels"]
    assert story.main_after_approval == story.main_after_kill  # exactly one merge
    # production's tip is exactly the tree the tests, the journeys and the validator passed on
    g = GitRepo(story.repo)
    runs = store.list_runs(limit=None, workflow="validate", issue=story.first)
    landed = [
        {s.step_id: s.outputs for s in store.steps(r.id) if s.status == "succeeded"} for r in runs
    ]
    (steps,) = [s for s in landed if "merge" in s]
    assert row["run_id"] == next(r.id for r, s in zip(runs, landed, strict=True) if "merge" in s)
    merges = [s.status for r in runs for s in store.steps(r.id) if s.step_id == "merge"]
    assert [s for s in merges if s != "skipped"] == ["running", "succeeded"]  # killed, carried on
    assert steps["merge"]["landed_tree"] == steps["merge"]["tested_tree"] == steps["check"]["tree"]
    assert steps["check"]["tests"]["exit_code"] == 0 and steps["check"]["journeys_passed"]
    assert g.tree_of(story.main_after_approval) == steps["check"]["tree"]
    assert story.main_after_approval != story.main_before_approval
    assert steps["smoke"]["reverted"] is None
    assert "approved by alice" in steps["decide"]["reason"]

    res = story.rejected
    assert res.code == 0, res.err
    data = story.rejected_issue
    assert data["state"] == "closed" and "factory:rejected" in data["labels"]
    assert not {"factory:needs-review", "factory:accepted"} & set(data["labels"])
    rejected = [c["body"] for c in data["comments"] if "Rejected" in c["body"]]
    assert len(rejected) == 1 and "bob" in rejected[0]
    assert "<b>" not in rejected[0] and "https://evil.example" not in rejected[0]
    prs = [
        s.outputs
        for r in store.list_runs(limit=None, workflow="implement", issue=story.second)
        for s in store.steps(r.id)
        if s.step_id == "pr" and s.status == "succeeded"
    ]
    forge = LocalForge(store, g)
    states = {p["branch"]: forge.find_pr(p["branch"]).state for p in prs}
    waited = store.pr(story.open_pr).branch
    # the pull request that waited is closed; the first, merged then reverted, stays merged
    assert states.pop(waited) == "closed" and set(states.values()) == {"merged"}, states
    assert story.main_after_rejection == story.main_before_rejection  # nothing of it landed

    # the audit trail: who did what, hash-chained
    human = [
        (e.kind, e.data["issue"], e.data["actor"])
        for e in store.events()
        if e.kind.startswith("human.")
    ]
    assert human == [("human.approve", story.first, "alice"), ("human.reject", story.second, "bob")]
    assert verify_chain(store)

    # neither is waiting for a person any more: one line, exit 2
    for res in story.decided_again:
        assert res.code == 2 and res.err.count("\n") == 1, res.err
        assert "not waiting for a person" in res.err

    status = story.status
    index = status["autonomy_index"]
    assert index["window_days"] == 30 and index["finished"] == 2 and index["autonomous"] == 0
    assert index["overall"] == 0.0
    assert {"stopped", "runs", "spend_today_usd"} <= set(status)  # the old keys stay
    kinds = {t["kind"]: t for t in status["trust"]}
    assert kinds["bug"]["earned"] == 0 and kinds["bug"]["auto"] is False  # reset since
    assert story.trust_earned["earned"] == 1  # the approval counted for its kind
