"""``factory approve`` and ``factory reject`` through the engine, the scripted model behind
the stand-in Messages API, and the local forge."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.git.repo import GitRepo
from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.review.conftest import with_trust
from tests.validate.conftest import file_issues
from tests.validate.test_validate import issue, run_once

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]


def test_approve_lands_the_tested_tree_and_reject_closes_with_one_comment(
    tmp_path: Path, capsys, app, standin
) -> None:
    repo, _ = app
    with_trust(repo, "{default: {start: review, earn_after: 5}}")
    file_issues(capsys, repo, [1, 2])
    run_once(capsys, repo)
    for n in (1, 2):  # every gate passed; trust is not earned yet: both wait for a person
        data = issue(capsys, repo, n)
        assert "factory:needs-review" in data["labels"], data["labels"]
        waiting = [c["body"] for c in data["comments"] if "validate:" in c["body"]]
        assert any("is earned after 5 approved changes" in b for b in waiting), waiting
    store = Store.open(tmp_path / "state")
    before = GitRepo(repo).rev_parse("main")

    res = run_cli(capsys, "--repo", str(repo), "approve", "1", "--by", "alice", "--json")
    assert res.code == 0, res.err
    assert res.json()["outcome"] == "merged" and res.json()["actor"] == "alice"
    data = issue(capsys, repo, 1)
    assert data["state"] == "closed" and "factory:merged" in data["labels"]
    assert "factory:needs-review" not in data["labels"]
    # production's tip is exactly the tree the tests, the journeys and the validator passed on
    g = GitRepo(repo)
    runs = store.list_runs(workflow="validate", issue=1)
    landed = [
        {s.step_id: s.outputs for s in store.steps(r.id) if s.status == "succeeded"} for r in runs
    ]
    (steps,) = [s for s in landed if "merge" in s]
    assert steps["merge"]["landed_tree"] == steps["merge"]["tested_tree"] == steps["check"]["tree"]
    assert steps["check"]["tests"]["exit_code"] == 0 and steps["check"]["journeys_passed"]
    assert g.tree_of(g.rev_parse("main")) == steps["check"]["tree"]
    assert g.rev_parse("main") != before and steps["smoke"]["reverted"] is None
    assert "approved by alice" in steps["decide"]["reason"]

    res = run_cli(
        capsys,
        "--repo",
        str(repo),
        "reject",
        "2",
        "--by",
        "bob",
        "--reason",
        "Not now: see https://evil.example/x <b>bold</b>",
    )
    assert res.code == 0, res.err
    data = issue(capsys, repo, 2)
    assert data["state"] == "closed" and "factory:rejected" in data["labels"]
    assert not {"factory:needs-review", "factory:accepted"} & set(data["labels"])
    rejected = [c["body"] for c in data["comments"] if "Rejected" in c["body"]]
    assert len(rejected) == 1 and "bob" in rejected[0]
    assert "<b>" not in rejected[0] and "https://evil.example" not in rejected[0]
    prs = [
        s.outputs
        for r in store.list_runs(workflow="implement", issue=2)
        for s in store.steps(r.id)
        if s.step_id == "pr" and s.status == "succeeded"
    ]
    from harness.forge.local import LocalForge

    forge = LocalForge(store, g)
    assert all(forge.find_pr(p["branch"]).state == "closed" for p in prs) and prs
    assert GitRepo(repo).tree_of("main") == steps["check"]["tree"]  # nothing of 2 landed

    # the audit trail: who did what, hash-chained
    human = [
        (e.kind, e.data["issue"], e.data["actor"])
        for e in store.events()
        if e.kind.startswith("human.")
    ]
    assert human == [("human.approve", 1, "alice"), ("human.reject", 2, "bob")]
    assert store.verify_chain()

    # neither is waiting for a person any more: one line, exit 2
    for args in (("approve", "2"), ("reject", "1", "--reason", "late")):
        res = run_cli(capsys, "--repo", str(repo), *args)
        assert res.code == 2 and res.err.count("\n") == 1, res.err
        assert "not waiting for a person" in res.err

    status = run_cli(capsys, "--repo", str(repo), "status", "--json").json()
    index = status["autonomy_index"]
    assert index["window_days"] == 30 and index["finished"] == 2 and index["autonomous"] == 0
    assert index["overall"] == 0.0
    assert {"stopped", "runs", "spend_today_usd"} <= set(status)  # the old keys stay
    kinds = {t["kind"]: t for t in status["trust"]}
    assert kinds["feature"]["earned"] == 1 and kinds["feature"]["auto"] is False
