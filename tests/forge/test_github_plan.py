"""Plan mode and ``factory apply``, through the workflows ``factory init --ci github-actions``
writes, run as GitHub Actions runs them: the jobs that run agents write nothing to GitHub; the
applier carries their plans out, exactly once, on runners that share nothing but the plan
(and, from implement to validate, the plan's ``state``: the run that made its pull request).

The jobs run once for the module (``planned``): the nightly triage workflow (plan, apply)
and the work workflow it calls for the issue it queued (implement, apply-pr, validate), each
``run:`` step by bash on a runner modelled on GitHub's image (``tests/actions_runner.py``),
the system pieces coming only from what the job installs. Each test then applies the
validation's plan to a GitHub of its own, forked from the one the jobs left: as planned,
after a person pushed to production, or with a push racing the merge."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from harness.git.repo import GitRepo
from tests.actions_runner import IMAGE_LACKS, VENV_BIN, Runner
from tests.cli_helpers import run_cli
from tests.factory_repo import git
from tests.forge.conftest import notes_on_github
from tests.forge.github_helpers import _MACHINERY, TOKEN, forked, github_env
from tests.forge.shared_scenario import MARKER_KEY, Output, isolated_env
from tests.standins.github_standin import GitHubStandIn

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
SETUP = "python3 -c 'print(\"set up\")'"  # something setup runs, through the egress proxy


def runner(where: Path, hub, name: str, holdout: Path) -> Path:
    """A fresh checkout, as a new job on a new runner gets it."""
    home = where / name
    home.mkdir()
    git(home, "clone", "-q", str(hub.bare), "notes")
    shutil.copytree(holdout, home / "notes-holdout")
    return home / "notes"


def someone_pushes_to_production(where: Path, hub, holdout: Path) -> None:
    other = runner(where, hub, "someone", holdout)
    (other / "NOTICE").write_text("moved\n")
    git(other, "add", "NOTICE")
    git(other, "commit", "-qm", "a human change")
    git(other, "push", "-q", "origin", "main")


def factory(capsys, repo: Path, state: Path, *args: str, code: int = 0):
    os.environ["FACTORY_STATE_DIR"] = str(state)
    try:
        res = run_cli(capsys, "--repo", str(repo), *args)
    finally:
        os.environ.pop("FACTORY_STATE_DIR")
    assert res.code == code, (res.out, res.err)
    return res


def plan_ops(plan: Path) -> list[str]:
    return [json.loads(x)["op"] for x in (plan / "plan.jsonl").read_text().splitlines()]


@dataclass(frozen=True)
class Planned:
    hub: GitHubStandIn  # as the jobs and the first two appliers left it
    holdout: Path
    plans: Path  # triage/, impl/ and val/
    entry: dict[str, Any]  # the implement plan's open_pr
    seen: dict[str, Any]  # what GitHub held at each point, by name
    jobs: Runner  # the runner the jobs ran on (its artifacts)


PINNED = f"git+https://github.com/example/dark-factory-harness@{'0' * 40}"
WORKFLOWS = Path(".github") / "workflows"


def on_actions(repo: Path, hub: GitHubStandIn, holdout: Path, setup: str) -> None:
    """What a maintainer does: ``factory init --ci github-actions`` beside the files that
    exist, a ``commands.setup`` (so the jobs need the egress proxy), pushed; the hold-out in
    a repository of its own."""
    done = subprocess.run(
        [str(VENV_BIN / "factory"), "--repo", str(repo), "init", "--ci", "github-actions",
         "--package", PINNED],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["commands"]["setup"] = setup
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "The factory's workflows")
    git(repo, "push", "-q", str(hub.bare), "main")
    copy = holdout.parent / "holdout-repo"
    shutil.copytree(holdout, copy)
    git(copy, "init", "-q", "-b", "main")
    git(copy, "add", "-A")
    git(copy, "commit", "-qm", "journeys")
    git(
        copy.parent,
        "clone",
        "-q",
        "--bare",
        str(copy),
        str(hub.git_root / "acme" / "app-holdout.git"),
    )


def actions(root: Path, hub: GitHubStandIn, **options: object) -> Runner:
    return Runner(
        root, hub.server_url, hub.api_url, hub.repository, TOKEN, f"dark-factory-harness @ {PINNED}",
        secrets={"FACTORY_MARKER_KEY": MARKER_KEY, "FACTORY_HOLDOUT_TOKEN": TOKEN},
        variables={"FACTORY_HOLDOUT_REPOSITORY": "acme/app-holdout"},
        **options,  # type: ignore[arg-type]
    )  # fmt: skip


def frozen(hub: GitHubStandIn, where: Path) -> Any:
    """What ``hub`` holds now, for ``forked`` to serve again later."""
    shutil.copytree(hub.git_root, where)
    data = {k: copy.deepcopy(v) for k, v in vars(hub).items() if k not in _MACHINERY}
    return SimpleNamespace(**data, git_root=where)


def artifact(runner: Runner, prefix: str) -> Path:
    assert runner.artifacts is not None
    (found,) = runner.artifacts.glob(f"{prefix}*")
    return found


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Planned]:
    """The workflows ``factory init --ci github-actions`` writes, run job after job as GitHub
    Actions runs them (``tests/actions_runner.py``): nightly triage planned by a read-only
    job and applied (then applied again, on a fresh state); issue 1, the one queued,
    implemented in plan mode on a runner that has no triage state, and applied; validated in
    plan mode with the implement job's hand-off (its plan's ``state``: the implement run
    alone). The merge job is left for the tests."""
    root = tmp_path_factory.mktemp("plan")
    holdout = root / "notes-holdout"
    seen: dict[str, Any] = {}
    with (
        notes_on_github(root) as (repo, hub),
        isolated_env(root / "state", **github_env(hub)),
        Output() as output,
    ):
        on_actions(repo, hub, holdout, SETUP)

        def look(job: str) -> None:
            if job == "factory-triage.yml:plan":
                seen["writes after the triage job"] = len(hub.writes())
            elif job == "factory-triage.yml:apply":
                seen["labels after triage"] = {n: list(hub.issues[n].labels) for n in (1, 2)}
                seen["writes after triage"] = len(hub.writes())
                again = runner(root, hub, "apply-triage", holdout)
                plan = artifact(jobs, "factory-triage-plan")
                factory(output, again, root / "fresh-state", "apply", str(plan))
                seen["writes after triage applied twice"] = len(hub.writes())
                seen["triaged"] = frozen(hub, root / "triaged")
            elif job == "factory-work.yml:implement":
                seen["writes after the implement job"] = len(hub.writes())
                seen["pulls after the implement job"] = len(hub.pulls)
                seen["pushed by the implement job"] = any(
                    r.path.endswith("/git-receive-pack") for r in hub.requests
                )
            elif job == "factory-work.yml:apply-pr":
                seen["pulls after implement"] = {n: p.head for n, p in hub.pulls.items()}
                seen["heads after implement"] = {
                    p.head: GitRepo(hub.bare).rev_parse(f"refs/heads/{p.head}")
                    for p in hub.pulls.values()
                }
            elif job == "factory-work.yml:validate":
                seen["merged after the validate job"] = [p.merged for p in hub.pulls.values()]

        jobs = actions(root / "actions", hub, skip=frozenset({"apply-merge", "health"}), after=look)
        results = jobs.workflow(repo / WORKFLOWS / "factory-triage.yml")
        assert all(r["ok"] for r in results.values()), "\n".join(jobs.log)
        assert jobs.jobs == [
            "factory-triage.yml:plan",
            "factory-triage.yml:apply",
            "factory-work.yml:implement",
            "factory-work.yml:apply-pr",
            "factory-work.yml:validate",
        ]
    plans = root / "plans"
    plans.mkdir()
    (plans / "triage").symlink_to(artifact(jobs, "factory-triage-plan"))
    (plans / "impl").symlink_to(artifact(jobs, "factory-implement-"))
    (plans / "val").symlink_to(artifact(jobs, "factory-validate-"))
    (entry,) = [
        json.loads(x)
        for x in (plans / "impl" / "plan.jsonl").read_text().splitlines()
        if '"open_pr"' in x
    ]
    yield Planned(hub, holdout, plans, entry, seen, jobs)


@pytest.fixture
def github(
    planned: Planned, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GitHubStandIn]:
    """This test's own GitHub, forked from the one the jobs left; the environment names it."""
    with forked(planned.hub, tmp_path) as hub:
        for key, value in github_env(hub).items():
            monkeypatch.setenv(key, value)
        yield hub


def validation_plan(planned: Planned, tmp_path: Path) -> Path:
    """This test's copy of the validation's plan (whatever an applier keeps beside it)."""
    plan = tmp_path / "val"
    shutil.copytree(planned.plans / "val", plan)
    return plan


def test_agents_plan_and_the_applier_writes_exactly_once(
    planned: Planned, github: GitHubStandIn, tmp_path: Path, capsys
) -> None:
    seen, entry, plans = planned.seen, planned.entry, planned.plans

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
    plan = validation_plan(planned, tmp_path)
    assert "merge_pr" in plan_ops(plan)
    hub = github
    (pull,) = hub.pulls.values()
    apply = runner(tmp_path, hub, "apply-val", planned.holdout)
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
    planned: Planned, github: GitHubStandIn, tmp_path: Path, capsys
) -> None:
    hub, plan = github, validation_plan(planned, tmp_path)
    # someone merges to production on GitHub before the plan is applied
    someone_pushes_to_production(tmp_path, hub, planned.holdout)
    apply = runner(tmp_path, hub, "apply", planned.holdout)
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
    planned: Planned, github: GitHubStandIn, tmp_path: Path, capsys, monkeypatch
) -> None:
    """Production moves in the instant between the applier's check and its merge: GitHub's
    merge commit then holds a tree nobody tested, and it is reverted at once."""
    from harness.forge.github import GitHubForge

    hub, plan = github, validation_plan(planned, tmp_path)
    real_merge = GitHubForge.merge_pr

    def racing_merge(self, number: int, expected_head_sha: str) -> str:
        someone_pushes_to_production(tmp_path, hub, planned.holdout)
        return real_merge(self, number, expected_head_sha)

    monkeypatch.setattr(GitHubForge, "merge_pr", racing_merge)
    apply = runner(tmp_path, hub, "apply", planned.holdout)
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
    planned: Planned, package: str, empty_repo: Path, tmp_path: Path, capsys, monkeypatch
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
    with forked(planned.seen["triaged"], tmp_path / "hub") as hub:
        skip = frozenset({"apply-pr", "validate", "apply-merge", "health"})
        jobs = actions(tmp_path / "actions", hub, skip=skip)
        results = jobs.workflow(workflow, {"issue": 1})
    assert jobs.jobs == ["factory-work.yml:implement"] and not results["implement"]["ok"]
    program = {"bubblewrap": "bwrap"}.get(package, package)
    assert re.search(rf"\b{program}\b.* is not installed", jobs.log[-1]), jobs.log[-1]
