"""Plan mode and ``factory apply``, through the workflows ``factory init --ci github-actions``
writes, run as GitHub Actions runs them: the jobs that run agents write nothing to GitHub; the
applier carries their plans out, exactly once, on runners that share nothing but the plan
(and, from implement to validate, the plan's ``state``: the run that made its pull request).

The jobs run once for the session (``landed``, ``tests/forge/actions_scenario.py``): the
nightly triage workflow (plan, apply) and the work workflow it calls for the issue it queued
(implement, apply-pr, validate, apply-merge), each ``run:`` step by bash on a runner modelled
on GitHub's image (``tests/actions_runner.py``), the system pieces coming only from what the
job installs. Each test then applies the validation's plan to a GitHub of its own, forked from
the one the validate job left: as planned, after a person pushed to production, or with a
push racing the merge."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.git.repo import GitRepo
from tests.actions_runner import IMAGE_LACKS
from tests.cli_helpers import run_cli
from tests.forge.actions_scenario import (
    PINNED,
    WORKFLOWS,
    Landed,
    actions,
    factory,
    plan_ops,
    runner,
    someone_pushes_to_production,
)
from tests.forge.github_helpers import forked, github_env
from tests.standins.github_standin import GitHubStandIn

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900), pytest.mark.together("github-actions")]


@pytest.fixture
def github(
    landed: Landed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GitHubStandIn]:
    """This test's own GitHub, forked from the one the validate job left; the environment
    names it."""
    with forked(landed.seen["validated"], tmp_path) as hub:
        for key, value in github_env(hub).items():
            monkeypatch.setenv(key, value)
        yield hub


def validation_plan(landed: Landed, tmp_path: Path) -> Path:
    """This test's copy of the validation's plan (whatever an applier keeps beside it)."""
    plan = tmp_path / "val"
    shutil.copytree(landed.plans / "val", plan)
    return plan


def test_agents_plan_and_the_applier_writes_exactly_once(
    landed: Landed, github: GitHubStandIn, tmp_path: Path, capsys
) -> None:
    seen, entry, plans = landed.seen, landed.entry, landed.plans

    # nightly triage: a read-only job plans, the applier writes
    assert seen["writes after the triage job"] == 0
    assert "comment" in plan_ops(plans / "triage")
    assert "factory:accepted" in seen["labels after triage"][1]
    assert "factory:rejected" in seen["labels after triage"][2]
    writes = seen["writes after triage"]
    assert seen["writes after triage applied twice"] == writes  # applied twice: nothing new

    # implement on a runner that has no triage state: the spec comes from the triage comment
    assert seen["writes after the implement job"] == writes
    assert seen["pulls after the implement job"] == 0
    assert not seen["pushed by the implement job"]
    assert (plans / "impl" / entry["bundle"]).is_file()
    (head,) = seen["pulls after implement"].values()
    assert head == entry["branch"]
    assert seen["heads after implement"][head] == entry["head_sha"]

    # validate with the implement job's hand-off (its plan's state), then the applier merges
    assert seen["merged after the validate job"] == [False]
    plan = validation_plan(landed, tmp_path)
    assert "merge_pr" in plan_ops(plan)
    hub = github
    (pull,) = hub.pulls.values()
    apply = runner(tmp_path, hub, "apply-val", landed.holdout)
    res = factory(capsys, apply, apply / ".state", "apply", str(plan), "--json")
    assert any(r["op"] == "merge_pr" and r["result"] == "done" for r in res.json())
    assert pull.merged and hub.issues[1].state == "closed"
    assert "factory:merged" in hub.issues[1].labels
    merge = [r for r in hub.requests if r.method == "PUT" and r.path.endswith("/merge")]
    assert json.loads(merge[0].body)["sha"] == entry["head_sha"]
    writes = len(hub.writes())
    factory(capsys, apply, tmp_path / "fresh2", "apply", str(plan))
    assert len(hub.writes()) == writes


def test_the_applier_refuses_a_merge_when_production_moved(
    landed: Landed, github: GitHubStandIn, tmp_path: Path, capsys
) -> None:
    hub, plan = github, validation_plan(landed, tmp_path)
    # someone merges to production on GitHub before the plan is applied
    someone_pushes_to_production(tmp_path, hub, landed.holdout)
    apply = runner(tmp_path, hub, "apply", landed.holdout)
    res = factory(capsys, apply, apply / ".state", "apply", str(plan), "--json", code=1)
    rows = res.json() if res.out.strip().startswith("[") else None
    assert rows is None or any(r["result"] == "refused" for r in rows)
    (pull,) = hub.pulls.values()
    assert not pull.merged and hub.issues[1].state == "open"
    assert "factory:merged" not in hub.issues[1].labels


@pytest.mark.parametrize(
    "command", [("triage",), ("run", "--once"), ("run", "--once", "--json")], ids=" ".join
)
def test_plan_mode_needs_the_github_forge(
    command: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every command that opens a forge opens it in plan mode under ``--plan``: ``run``
    with its live line as much as with ``--json``."""
    from tests.factory_repo import make_factory_repo

    repo = make_factory_repo(tmp_path / "r")
    res = run_cli(capsys, "--repo", str(repo), "--plan", str(tmp_path / "p"), *command)
    assert res.code == 2
    assert "plan mode is for forge: github" in res.err


def test_the_applier_reverts_a_merge_that_did_not_land_the_tested_tree(
    landed: Landed, github: GitHubStandIn, tmp_path: Path, capsys, monkeypatch
) -> None:
    """Production moves in the instant between the applier's check and its merge: GitHub's
    merge commit then holds a tree nobody tested, and it is reverted at once."""
    from harness.forge.github import GitHubForge

    hub, plan = github, validation_plan(landed, tmp_path)
    real_merge = GitHubForge.merge_pr

    def racing_merge(self, number: int, expected_head_sha: str) -> str:
        someone_pushes_to_production(tmp_path, hub, landed.holdout)
        return real_merge(self, number, expected_head_sha)

    monkeypatch.setattr(GitHubForge, "merge_pr", racing_merge)
    apply = runner(tmp_path, hub, "apply", landed.holdout)
    res = factory(capsys, apply, apply / ".state", "apply", str(plan), "--json", code=1)
    (merge_row,) = [r for r in res.json() if r.get("op") == "merge_pr"]
    assert merge_row["result"] == "refused" and "reverted at once" in merge_row["why"]
    (pull,) = hub.pulls.values()
    assert pull.merged  # GitHub merged it …
    tip = GitRepo(hub.bare).rev_parse("refs/heads/main")
    assert tip == merge_row["revert"]  # … and production is back to what it was, plus NOTICE
    assert GitRepo(hub.bare).tree_of(tip) == GitRepo(hub.bare).tree_of(f"{pull.merge_sha}^1")
    assert "factory:merged" not in hub.issues[1].labels


@pytest.mark.parametrize("package", IMAGE_LACKS)
def test_a_work_job_without_a_piece_of_the_system_list_fails(
    landed: Landed, package: str, empty_repo: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    """The run above is not blind to the list: with one of the pieces GitHub's image lacks
    left out of ``workflows/init/system.yaml``, the work job ``init`` writes fails on the
    runner, at the first thing that needs it."""
    from harness.config import system

    pieces = [p for p in system.pieces() if p["package"] != package]
    assert len(pieces) == len(system.pieces()) - 1
    monkeypatch.setattr(system, "pieces", lambda: pieces)
    args = ("init", "--ci", "github-actions", "--package", PINNED)
    assert run_cli(capsys, "--repo", str(empty_repo), *args).code == 0
    workflow = empty_repo / WORKFLOWS / "factory-work.yml"
    with forked(landed.seen["triaged"], tmp_path / "hub") as hub:
        skip = frozenset({"apply-pr", "validate", "apply-merge", "health"})
        jobs = actions(tmp_path / "actions", hub, skip=skip)
        results = jobs.workflow(workflow, {"issue": 1})
    assert jobs.jobs == ["factory-work.yml:implement"] and not results["implement"]["ok"]
    program = {"bubblewrap": "bwrap"}.get(package, package)
    assert re.search(rf"\b{program}\b.* is not installed", jobs.log[-1]), jobs.log[-1]


@pytest.mark.parametrize("state", ["shut", ""])
def test_a_planned_state_other_than_open_or_closed_is_refused(tmp_path: Path, state: str) -> None:
    """The applier sets the state a plan names; a plan naming another (a hand-edited line)
    is refused before anything is applied, never taken for ``open``."""
    from harness.errors import ConfigError
    from harness.forge.journal import PLAN_FILE, read_plan

    line = {"seq": 1, "op": "set_state", "issue": 3, "state": state}
    (tmp_path / PLAN_FILE).write_text(json.dumps(line) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 1"):
        read_plan(tmp_path)
    (tmp_path / PLAN_FILE).write_text(json.dumps(line | {"state": "closed"}) + "\n")
    assert read_plan(tmp_path)[0].state == "closed"
