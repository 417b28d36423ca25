"""``kill -9`` inside the post-merge smoke run, then ``factory run --once``: the smoke journeys
run, and the killed run's lease and worktree are gone."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import yaml

from harness.git.repo import GitRepo
from harness.git.worktrees import WorktreeManager, default_worktree_root
from harness.store.db import Store
from tests.checks_passed import analysers_find_nothing, taught_checks_fail
from tests.cli_helpers import run_cli
from tests.cli_helpers import spawn as factory
from tests.factory_repo import git
from tests.validate.conftest import checks_pass_before_the_smoke_run, file_issues, issue
from tests.validate.scenarios import Interrupted

# the first test reads ``interrupted``, a package fixture test_confinement.py reads too: one
# worker plays it
pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(600),
    pytest.mark.together("validate-interrupted"),
]


def test_kill_9_inside_the_smoke_step_then_run_once_finishes_it(
    interrupted: Interrupted,
) -> None:
    # the validation of ``interrupted`` (stopped during its validator, resumed) is killed
    # inside its smoke run, then ``factory run --once`` finishes it
    seen = interrupted
    code, err = seen.crashed
    assert code == -signal.SIGKILL, err  # died inside smoke: app, worktree up
    assert seen.killed == ("running", "smoke")
    assert seen.killed_steps["merge"] == "succeeded" and seen.killed_steps["smoke"] == "running"
    assert seen.killed_lease is not None  # left behind by the dead process
    assert any(name.endswith(f"{seen.run}-smoke") for name in seen.killed_worktrees)

    again = seen.again
    assert again is not None and again.code == 0, again.err
    (row,) = again.json()["validate"]
    assert row["issue"] == 1 and row["status"] == "succeeded"
    assert row["run_id"] == seen.run and row["route"] == "merge" and not row["reverted"]

    store = Store.open(seen.state)
    manager = WorktreeManager(GitRepo(seen.repo), default_worktree_root(seen.state))
    try:
        (finished,) = store.list_runs(limit=None, workflow="validate", issue=1)
        assert finished.status == "succeeded"
        smoke = [s for s in store.steps(seen.run) if s.step_id == "smoke"]
        assert [s.status for s in smoke] == ["running", "succeeded"]  # killed, then redone
        journeys = smoke[-1].outputs["journeys"]
        assert journeys and all(j["passed"] for j in journeys)
        assert smoke[-1].outputs["sha"] == merged_sha(store, seen.run)
        assert store.lease_holder(1) is None
        assert not [p for p in manager.list() if seen.run in p.name]
    finally:
        store.close()


def merged_sha(store: Store, run_id: str) -> str:
    (merge,) = [s for s in store.steps(run_id) if s.step_id == "merge" and s.status == "succeeded"]
    return str(merge.outputs["merge_sha"])


def checks_and_gate_stand_in() -> None:
    """In the killed cycle: the checks before the smoke run stand in as passed (but the
    suites: ``checks_pass_before_the_smoke_run``), and the security gate's analysers as
    having found nothing (``analysers_find_nothing``)."""
    checks_pass_before_the_smoke_run()
    analysers_find_nothing(pytest.MonkeyPatch())
    taught_checks_fail(pytest.MonkeyPatch())


def test_kill_9_inside_smoke_then_a_failing_smoke_is_reverted_on_resume(
    tmp_path: Path, capsys, app, standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The revert resumes too: the cycle killed in its validate stage is resumed there, and
    the smoke run that finishes the killed one fails (the hold-out was tightened meanwhile),
    so production is reverted and the issue reopened. In the killed cycle the checks before
    the smoke run (but the suites) stand in as passed, and the security gate's analysers:
    what is read is the smoke run, whose learned checks, taught by that stood-in verdict,
    fail their tries as in a browser (``taught_checks_fail``). One check at a time."""
    repo, holdout = app
    # one check at a time: the killed smoke run starts one app, not four, and each process
    # one Playwright driver, not one per check side by side
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["validation"] = {**config.get("validation", {}), "parallel_checks": 1}
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "commit", "-qam", "one check at a time")
    file_issues(capsys, repo, [1])
    state = Path(os.environ["FACTORY_STATE_DIR"])
    env = {**os.environ, "FACTORY_FAULT_AT": "validate.smoke.serving"}
    crashed = factory(repo, env, "run", "--once", "--json", before=checks_and_gate_stand_in)
    _, err = crashed.communicate(timeout=500)
    assert crashed.returncode == -signal.SIGKILL, err
    merged = GitRepo(repo).rev_parse("main")

    (holdout / "journeys" / "empty.yaml").write_text(
        "name: empty state\nsteps:\n  - goto: /\n  - expect_text: 'No notes yet'\n"
    )
    # the cycle that finishes it (in this process: the lease of the dead one is taken over);
    # the learned checks the stood-in verdict taught fail their tries (``taught_checks_fail``)
    taught_checks_fail(monkeypatch)
    again = run_cli(capsys, "--repo", str(repo), "run", "--once", "--json")
    # merged, then reverted: the issue's outcome, not the exit code's (docs/user-guide.md,
    # "Exit codes"); the cycle resumed in its validate stage checked production as it began
    assert again.code == 0, again.err
    (row,) = again.json()["validate"]
    assert row["issue"] == 1 and row["reverted"]

    g = GitRepo(repo)
    head = g.rev_parse("main")
    assert g.git("log", "-1", "--format=%s", "main").startswith("Revert factory merge")
    assert g.tree_of(head) == g.tree_of(f"{merged}^1")  # back to the tree before the merge
    data = issue(capsys, repo, 1)
    assert data["state"] == "open" and "factory:regression" in data["labels"]
    # a smoke failure after a merge (the only test of it): back to work, from production,
    # and the issue says its merge was reverted
    assert "factory:accepted" in data["labels"]
    assert any("was reverted" in c["body"] for c in data["comments"])
    store = Store.open(state)
    try:
        # resumed through the cycle's record: the same cycle, its validate step's own run
        (cycle,) = store.list_runs(limit=None, workflow="cycle")
        (validation,) = store.list_runs(limit=None, workflow="validate", issue=1)
        assert cycle.status == "succeeded" and validation.id == row["run_id"]
        assert (validation.parent, validation.parent_step) == (cycle.id, "validate")
        assert store.lease_holder(1) is None
        manager = WorktreeManager(GitRepo(repo), default_worktree_root(state))
        assert not [p for p in manager.list() if row["run_id"] in p.name]
    finally:
        store.close()
