"""``kill -9`` inside the post-merge smoke run, then ``factory run --once``: the smoke journeys
run, and the killed run's lease and worktree are gone."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from harness.git.repo import GitRepo
from harness.git.worktrees import WorktreeManager, default_worktree_root
from harness.store.db import Store
from tests.cli_helpers import spawn as factory
from tests.validate.conftest import file_issues

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


def test_kill_9_inside_the_smoke_step_then_run_once_finishes_it(
    tmp_path: Path, capsys, app, standin
) -> None:
    repo, _ = app
    file_issues(capsys, repo, [1])
    state = Path(os.environ["FACTORY_STATE_DIR"])
    env = {**os.environ, "FACTORY_FAULT_AT": "validate.smoke.serving"}

    crashed = factory(repo, env, "run", "--once", "--json")
    _, err = crashed.communicate(timeout=500)
    assert crashed.returncode == -signal.SIGKILL, err  # died inside smoke: app, worktree up

    store = Store.open(state)
    manager = WorktreeManager(GitRepo(repo), default_worktree_root(state))
    try:
        (killed,) = store.list_runs(workflow="validate", issue=1)
        assert killed.status == "running" and killed.current_step == "smoke"
        merged = {s.step_id: s.status for s in store.steps(killed.id)}
        assert merged["merge"] == "succeeded" and merged["smoke"] == "running"
        assert store.lease_holder(1) is not None  # left behind by the dead process
        assert any(p.name.endswith(f"{killed.id}-smoke") for p in manager.list())

        env.pop("FACTORY_FAULT_AT")
        again = factory(repo, env, "run", "--once", "--json")
        out, err = again.communicate(timeout=500)
        assert again.returncode == 0, err
        (row,) = json.loads(out)["validate"]
        assert row["issue"] == 1 and row["status"] == "succeeded"
        assert row["run_id"] == killed.id and row["route"] == "merge" and not row["reverted"]

        (finished,) = store.list_runs(workflow="validate", issue=1)
        assert finished.status == "succeeded"
        smoke = [s for s in store.steps(killed.id) if s.step_id == "smoke"]
        assert [s.status for s in smoke] == ["running", "succeeded"]  # killed, then redone
        journeys = smoke[-1].outputs["journeys"]
        assert journeys and all(j["passed"] for j in journeys)
        assert smoke[-1].outputs["sha"] == merged_sha(store, killed.id)
        assert store.lease_holder(1) is None
        assert not [p for p in manager.list() if killed.id in p.name]
    finally:
        store.close()


def merged_sha(store: Store, run_id: str) -> str:
    (merge,) = [s for s in store.steps(run_id) if s.step_id == "merge" and s.status == "succeeded"]
    return str(merge.outputs["merge_sha"])


def test_kill_9_inside_smoke_then_a_failing_smoke_is_reverted_on_resume(
    tmp_path: Path, capsys, app, standin
) -> None:
    """The revert resumes too: the smoke run that finishes the killed one fails (the hold-out
    was tightened meanwhile), so production is reverted and the issue reopened."""
    repo, holdout = app
    file_issues(capsys, repo, [1])
    state = Path(os.environ["FACTORY_STATE_DIR"])
    env = {**os.environ, "FACTORY_FAULT_AT": "validate.smoke.serving"}
    crashed = factory(repo, env, "run", "--once", "--json")
    _, err = crashed.communicate(timeout=500)
    assert crashed.returncode == -signal.SIGKILL, err
    merged = GitRepo(repo).rev_parse("main")

    (holdout / "journeys" / "empty.yaml").write_text(
        "name: empty state\nsteps:\n  - goto: /\n  - expect_text: 'No notes yet'\n"
    )
    env.pop("FACTORY_FAULT_AT")
    again = factory(repo, env, "run", "--once", "--json")
    out, err = again.communicate(timeout=500)
    assert again.returncode == 1, err  # merged, then reverted: a refusal (README, "Commands")
    (row,) = json.loads(out)["validate"]
    assert row["issue"] == 1 and row["reverted"]

    g = GitRepo(repo)
    head = g.rev_parse("main")
    assert g.git("log", "-1", "--format=%s", "main").startswith("Revert factory merge")
    assert g.tree_of(head) == g.tree_of(f"{merged}^1")  # back to the tree before the merge
    shown = factory(repo, env, "issue", "show", "1", "--json")
    data = json.loads(shown.communicate(timeout=60)[0])
    assert data["state"] == "open" and "factory:regression" in data["labels"]
    store = Store.open(state)
    try:
        assert store.lease_holder(1) is None
        manager = WorktreeManager(GitRepo(repo), default_worktree_root(state))
        assert not [p for p in manager.list() if row["run_id"] in p.name]
    finally:
        store.close()
