"""Plan mode and ``factory apply``: the jobs that run agents write nothing to GitHub; the
applier carries their plans out, exactly once, on runners that share nothing but the plan
(and, from implement to validate, the state folder)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.git.repo import GitRepo
from tests.cli_helpers import run_cli
from tests.factory_repo import git

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


def runner(tmp_path: Path, hub, name: str) -> Path:
    """A fresh checkout, as a new job on a new runner gets it."""
    home = tmp_path / name
    home.mkdir()
    git(home, "clone", "-q", str(hub.bare), "notes")
    shutil.copytree(tmp_path / "notes-holdout", home / "notes-holdout")
    return home / "notes"


def validated_into_a_plan(capsys, repo: Path, tmp_path: Path) -> Path:
    """Issue 1 triaged and implemented, then validated in plan mode: the plan's folder."""
    state = tmp_path / "state"
    factory(capsys, repo, state, "triage")
    factory(capsys, repo, state, "implement", "1")
    plan = tmp_path / "plan"
    factory(capsys, repo, state, "--plan", str(plan), "validate", "1")
    return plan


def someone_pushes_to_production(tmp_path: Path, hub) -> None:
    other = runner(tmp_path, hub, "someone")
    (other / "NOTICE").write_text("moved\n")
    git(other, "add", "NOTICE")
    git(other, "commit", "-qm", "a human change")
    git(other, "push", "-q", "origin", "main")


def factory(capsys, repo: Path, state: Path, *args: str, code: int = 0):
    import os

    os.environ["FACTORY_STATE_DIR"] = str(state)
    try:
        res = run_cli(capsys, "--repo", str(repo), *args)
    finally:
        os.environ.pop("FACTORY_STATE_DIR")
    assert res.code == code, (res.out, res.err)
    return res


def plan_ops(plan: Path) -> list[str]:
    return [json.loads(x)["op"] for x in (plan / "plan.jsonl").read_text().splitlines()]


def test_agents_plan_and_the_applier_writes_exactly_once(
    github_repo, tmp_path: Path, capsys
) -> None:
    _, hub = github_repo
    plans = tmp_path / "plans"

    # nightly triage: a read-only job plans, the applier writes
    job = runner(tmp_path, hub, "triage")
    factory(capsys, job, job / ".state", "--plan", str(plans / "triage"), "triage")
    assert hub.writes() == []
    assert "comment" in plan_ops(plans / "triage")
    apply = runner(tmp_path, hub, "apply-triage")
    factory(capsys, apply, apply / ".state", "apply", str(plans / "triage"))
    assert "factory:accepted" in hub.issues[1].labels
    assert "factory:rejected" in hub.issues[2].labels
    writes = len(hub.writes())
    factory(capsys, apply, tmp_path / "fresh-state", "apply", str(plans / "triage"))
    assert len(hub.writes()) == writes  # applied twice: nothing new

    # implement on a runner that has no triage state: the spec comes from the triage comment
    job = runner(tmp_path, hub, "implement")
    state = job / ".state"
    factory(capsys, job, state, "--plan", str(plans / "impl"), "implement", "1")
    assert len(hub.writes()) == writes and hub.pulls == {}
    assert not any(r.path.endswith("/git-receive-pack") for r in hub.requests)
    (entry,) = [
        json.loads(x)
        for x in (plans / "impl" / "plan.jsonl").read_text().splitlines()
        if '"open_pr"' in x
    ]
    assert (plans / "impl" / entry["bundle"]).is_file()
    apply = runner(tmp_path, hub, "apply-impl")
    factory(capsys, apply, apply / ".state", "apply", str(plans / "impl"))
    (pull,) = hub.pulls.values()
    assert pull.head == entry["branch"]
    assert GitRepo(hub.bare).rev_parse(f"refs/heads/{pull.head}") == entry["head_sha"]

    # validate with the implement job's state (an artifact), then the applier merges
    job2 = runner(tmp_path, hub, "validate")
    shutil.copytree(state, job2 / ".state")
    factory(capsys, job2, job2 / ".state", "--plan", str(plans / "val"), "validate", "1")
    assert not pull.merged and "merge_pr" in plan_ops(plans / "val")
    apply = runner(tmp_path, hub, "apply-val")
    res = factory(capsys, apply, apply / ".state", "apply", str(plans / "val"), "--json")
    assert any(r["op"] == "merge_pr" and r["result"] == "done" for r in res.json())
    assert pull.merged and hub.issues[1].state == "closed"
    assert "factory:merged" in hub.issues[1].labels
    merge = [r for r in hub.requests if r.method == "PUT" and r.path.endswith("/merge")]
    assert json.loads(merge[0].body)["sha"] == entry["head_sha"]
    writes = len(hub.writes())
    factory(capsys, apply, tmp_path / "fresh2", "apply", str(plans / "val"))
    assert len(hub.writes()) == writes


def test_the_applier_refuses_a_merge_when_production_moved(
    github_repo, tmp_path: Path, capsys
) -> None:
    repo, hub = github_repo
    plan = validated_into_a_plan(capsys, repo, tmp_path)
    # someone merges to production on GitHub before the plan is applied
    someone_pushes_to_production(tmp_path, hub)
    apply = runner(tmp_path, hub, "apply")
    res = factory(capsys, apply, apply / ".state", "apply", str(plan), "--json", code=1)
    rows = res.json() if res.out.strip().startswith("[") else None
    assert rows is None or any(r["result"] == "refused" for r in rows)
    (pull,) = hub.pulls.values()
    assert not pull.merged and hub.issues[1].state == "open"
    assert "factory:merged" not in hub.issues[1].labels


def test_plan_mode_needs_the_github_forge(tmp_path: Path, capsys) -> None:
    from tests.factory_repo import make_factory_repo

    repo = make_factory_repo(tmp_path / "r")
    res = run_cli(capsys, "--repo", str(repo), "--plan", str(tmp_path / "p"), "triage")
    assert res.code == 2
    assert "plan mode is for forge: github" in res.err


def test_the_applier_reverts_a_merge_that_did_not_land_the_tested_tree(
    github_repo, tmp_path: Path, capsys, monkeypatch
) -> None:
    """Production moves in the instant between the applier's check and its merge: GitHub's
    merge commit then holds a tree nobody tested, and it is reverted at once."""
    from harness.forge.github import GitHubForge

    repo, hub = github_repo
    plan = validated_into_a_plan(capsys, repo, tmp_path)
    real_merge = GitHubForge.merge_pr

    def racing_merge(self, number: int, expected_head_sha: str) -> str:
        someone_pushes_to_production(tmp_path, hub)
        return real_merge(self, number, expected_head_sha)

    monkeypatch.setattr(GitHubForge, "merge_pr", racing_merge)
    apply = runner(tmp_path, hub, "apply")
    res = factory(capsys, apply, apply / ".state", "apply", str(plan), "--json", code=1)
    (merge_row,) = [r for r in res.json() if r.get("op") == "merge_pr"]
    assert merge_row["result"] == "refused" and "reverted at once" in merge_row["why"]
    (pull,) = hub.pulls.values()
    assert pull.merged  # GitHub merged it …
    tip = GitRepo(hub.bare).rev_parse("refs/heads/main")
    assert tip == merge_row["revert"]  # … and production is back to what it was, plus NOTICE
    assert GitRepo(hub.bare).tree_of(tip) == GitRepo(hub.bare).tree_of(f"{pull.merge_sha}^1")
    assert "factory:merged" not in hub.issues[1].labels
