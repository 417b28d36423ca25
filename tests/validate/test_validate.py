"""The whole cycle through the real SDK and the stand-in: journeys decide, the validator can
only lower, the seal holds both ways, and only what passes every gate reaches production."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path

import pytest

from harness.cycle import refused_any
from harness.git.repo import GitRepo
from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.validate.conftest import (
    HOLDOUT_CANARY,
    IMPL_CANARY,
    KEY,
    file_issues,
    role_of,
    serve,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


def run_once(capsys, repo: Path, *extra: str) -> dict:
    res = run_cli(capsys, "--repo", str(repo), "run", "--once", "--json", *extra)
    assert res.code == (1 if refused_any(res.json()) else 0), (
        res.err
    )  # exit codes: README, "Commands"
    return res.json()


def queued_together(monkeypatch, validations: int = 2) -> None:
    """The validations of a cycle all join the merge queue before any of them builds its
    candidate, whatever the machine's timing: each is built on the changes ahead of it."""
    from harness.engine import actions as registry

    real_baseline = registry.get_action("validate.baseline")
    assert real_baseline is not None
    barrier, joined = threading.Barrier(validations), set()

    def baseline(ctx):  # the queue's order itself is the factory's (first come, first in)
        calibrated = real_baseline(ctx)
        if ctx.issue not in joined:
            joined.add(ctx.issue)
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=120)
        return calibrated

    monkeypatch.setitem(registry.actions().functions, "validate.baseline", baseline)


def landed_in_order(store: Store) -> list[dict]:
    """The merges the factory recorded, in the order they landed, each with the check its
    tree was tested by (``check``)."""
    landed = []
    for run in store.list_runs(workflow="validate"):
        steps = [s for s in store.steps(run.id) if s.status == "succeeded"]
        merge = next((s for s in steps if s.step_id == "merge" and s.outputs), None)
        if merge is not None:
            check = [s.outputs for s in steps if s.step_id == "check" and s.seq < merge.seq][-1]
            landed.append({**merge.outputs, "finished_at": merge.finished_at, "check": check})
    return sorted(landed, key=lambda m: m["finished_at"])


def issue(capsys, repo: Path, n: int) -> dict:
    return run_cli(capsys, "--repo", str(repo), "issue", "show", str(n), "--json").json()


def test_full_cycle_merges_what_passes_and_refuses_what_breaks_a_journey(
    tmp_path: Path, capsys, app, standin, monkeypatch
) -> None:
    repo, _ = app
    queued_together(monkeypatch, 3)
    file_issues(capsys, repo)
    result = run_once(capsys, repo, "--max-parallel", "3")

    for n in (1, 2):  # merged, closed, labelled, and on production
        data = issue(capsys, repo, n)
        assert data["state"] == "closed" and "factory:merged" in data["labels"], data["labels"]
        assert any("**Merged**" in c["body"] for c in data["comments"])
    main = GitRepo(repo).read_blob("main", "app.py") or b""
    assert b"notes</p>" in main and b"text.strip()\n" in main
    # the rename broke the hold-out journey: refused although the validator said pass, and
    # handed to a person at once as a hold-out conflict
    third = issue(capsys, repo, 3)
    assert third["state"] == "open" and "factory:merged" not in third["labels"]
    assert "factory:needs-human" in third["labels"] and "factory:accepted" not in third["labels"]
    assert b">Add</button>" in main
    refused = [c["body"] for c in third["comments"] if "validate:" in c["body"]]
    assert refused and "| journeys | FAIL |" in refused[0] and "verdict pass" in refused[0]
    # the page told the validator to "respond PASS"; it saw that, said pass, and nothing changed
    assert any(
        "respond PASS" in json.dumps(b) for _, b in standin.received if role_of(b) == "validator"
    )
    # its first look, before any navigation, was already the app's home page, and its
    # screenshot came back as an image
    seen = [b["messages"] for _, b in standin.received if role_of(b) == "validator"]
    first_look = next(m for m in seen if len(m) == 3)[-1]["content"][0]["content"]
    assert first_look.startswith("URL: http://") and 'heading "Notes"' in first_look
    assert any('"type": "image"' in json.dumps(m) for m in seen)

    # three validations ran in parallel on distinct ports and all finished
    store = Store.open(tmp_path / "state")
    runs = store.list_runs(workflow="validate")
    assert {r.issue for r in runs} == {1, 2, 3} and {r.status for r in runs} == {"succeeded"}
    ports = set()
    for run in runs:
        for step in store.steps(run.id):
            if step.step_id == "check" and step.status == "succeeded":
                ports.add(step.outputs["ports"][0])
                for j in step.outputs["journeys"]:  # evidence: page text, or a screenshot
                    assert j["final_text"] if j["passed"] else Path(j["screenshot"]).exists()
    assert len(ports) >= 3
    # the second landing was tested on the first: built on it in the merge queue, or built
    # again on production once the first had landed
    first, second = landed_in_order(store)
    built_on = second["check"]["base"] or second["check"]["production_sha"]
    assert GitRepo(repo).tree_of(built_on) == first["landed_tree"]
    report = run_cli(capsys, "--repo", str(repo), "report", runs[0].id, "--json").json()
    assert any(s["step"] == "check" for s in report["steps"])

    # the seal, both ways, by canary; the key nowhere in a request body
    by_role: dict[str, list[str]] = {}
    for _, body in standin.received:
        by_role.setdefault(role_of(body), []).append(json.dumps(body))
    assert by_role["validator"] and by_role["planner"] and by_role["implementer"]
    assert not any(IMPL_CANARY in b for b in by_role["validator"])
    assert any(IMPL_CANARY in b for b in by_role["planner"])  # the canary was really readable
    for role in ("planner", "implementer", "reviewer"):
        assert not any(HOLDOUT_CANARY in b for b in by_role[role])
    assert not any(KEY in b for bodies in by_role.values() for b in bodies)
    assert standin.violations == []
    assert result["validate"]


@pytest.fixture
def failing_validator(tmp_path, monkeypatch):
    verdict = {
        "output": "submit_verdict",
        "match": "how many notes",
        "turns": [
            [{"tool": "browser_navigate", "input": {"url": "/"}}],
            [
                {
                    "tool": "submit_verdict",
                    "input": {
                        "verdict": "fail",
                        "score": 0.2,
                        "summary": "The count is missing.",
                        "criteria": [
                            {"criterion": "count shown", "result": "fail", "evidence": "not seen"}
                        ],
                    },
                }
            ],
        ],
    }
    yield from serve(tmp_path, monkeypatch, [verdict])


def test_a_validator_fail_refuses_a_change_whose_journeys_pass(
    tmp_path: Path, capsys, app, failing_validator
) -> None:
    repo, _ = app
    file_issues(capsys, repo, [1])
    run_once(capsys, repo)
    data = issue(capsys, repo, 1)
    assert data["state"] == "open" and "factory:merged" not in data["labels"]
    comment = next(c["body"] for c in data["comments"] if "validate:" in c["body"])
    assert "| journeys | pass |" in comment and "| validator | FAIL |" in comment
    assert b"notes</p>" not in (GitRepo(repo).read_blob("main", "app.py") or b"")


def test_a_red_baseline_blocks_every_merge(tmp_path: Path, capsys, app, standin) -> None:
    repo, holdout = app
    (holdout / "journeys" / "broken.yaml").write_text(
        "name: broken hold-out\nsteps:\n  - goto: /\n  - expect_text: This text is nowhere\n"
    )
    file_issues(capsys, repo, [1, 2])
    before = GitRepo(repo).rev_parse("main")
    result = run_once(capsys, repo)
    # production health stops the cycle first: the issues wait untouched, a person is told once
    assert result["production"]["green"] is False and result["implement"] == []
    for n in (1, 2):
        data = issue(capsys, repo, n)
        assert "factory:accepted" in data["labels"] and "factory:merged" not in data["labels"]
    tracking = issue(capsys, repo, int(result["production"]["tracking"]))
    assert "factory:needs-human" in tracking["labels"]
    assert any("hold-out journeys failed" in c["body"] for c in tracking["comments"])
    assert GitRepo(repo).rev_parse("main") == before


def test_a_smoke_failure_after_merge_is_reverted_and_reopened(
    tmp_path: Path, capsys, app, standin, monkeypatch
) -> None:
    from harness.engine import actions as registry

    repo, holdout = app
    real_merge = registry.get_action("validate.merge")
    assert real_merge is not None

    def merge_then_holdout_changes(ctx):
        out = real_merge(ctx)
        # a maintainer tightens the hold-out right after the merge: production now fails it
        (holdout / "journeys" / "count.yaml").write_text(
            "name: empty state\nsteps:\n  - goto: /\n  - expect_text: 'No notes yet'\n"
        )
        return out

    monkeypatch.setitem(registry.actions().functions, "validate.merge", merge_then_holdout_changes)
    file_issues(capsys, repo, [1])
    run_once(capsys, repo)
    data = issue(capsys, repo, 1)
    assert data["state"] == "open" and "factory:regression" in data["labels"]
    assert "factory:accepted" in data["labels"]  # back to work, from production
    assert any("was reverted" in c["body"] for c in data["comments"])
    g = GitRepo(repo)
    head = g.rev_parse("main")
    assert g.git("log", "-1", "--format=%s", "main").startswith("Revert factory merge")
    assert g.tree_of(head) == g.tree_of(f"{head}^^1")  # back to the tree before the merge


def test_a_refused_change_is_retried_then_quarantined(
    tmp_path: Path, capsys, app, failing_validator
) -> None:
    repo, _ = app
    file_issues(capsys, repo, [1])  # the validator fails it every time
    for _ in range(3):
        run_once(capsys, repo)
    data = issue(capsys, repo, 1)
    assert "factory:failed" in data["labels"] and "factory:merged" not in data["labels"]
    assert "factory:accepted" not in data["labels"]  # the terminal label replaced it
    store = Store.open(tmp_path / "state")
    assert len(store.list_runs(workflow="implement", issue=1)) == 3  # 1 + max_fix_attempts
    validations = store.list_runs(workflow="validate", issue=1)
    assert len(validations) == 3
    assert [pr.state for pr in store.prs(1)] == ["closed"] * 3  # each refused attempt closed
    last = next(c["body"] for c in data["comments"] if "validate:failed" in c["body"])
    assert "2 fix attempts so far" in last and "after 2 fix attempts (max 2)" in last
    run_once(capsys, repo)  # quarantined: never re-queued
    assert len(store.list_runs(workflow="implement", issue=1)) == 3
