"""A later check finds what a factory merge broke: heal blames exactly that merge and reverts
it through the merge queue, through ``factory run --once`` (docs/heal.md).

One scenario for the module (``healed``): the cycles that find it are killed (``kill -9``) at
three points in turn, and the cycle after them lands the revert, its checks run for real
(the revert's security gate finding nothing, its analysers standing in: not what it is
about), one at a time; each test reads one property of what it left. A heal that runs to its
end in one cycle, the revert validated in that cycle, is ``test_loop.py``'s first cycle."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from harness.artifacts import Blame, Diagnosis, Healed
from harness.engine.records import RunRecords
from harness.reports.report import healing
from harness.serve.app import Dashboard, Session
from harness.services import open_services
from harness.store.db import Store
from harness.triage.queue import untriaged
from tests.checks_passed import analysers_find_nothing
from tests.cli_helpers import run_cli
from tests.cli_helpers import spawn as factory
from tests.factory_repo import git
from tests.heal.conftest import HEADING, three_merges
from tests.validate.conftest import (
    HOLDOUT_CANARY,
    Output,
    isolated_env,
    issue,
    landed_tested_trees,
    make_app,
    run_once,
    serve,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

KILLED_AT = ("health.health.failed", "heal.bisect.probed", "implement.pr.created")


@dataclass(frozen=True)
class Scenario:
    """What the scenario left: the world, the merges, the killed cycles and the one after."""

    repo: Path
    state: Path
    merges: list[tuple[int, str]]  # (issue, merge commit) of the three merges
    killed: list[tuple[int | None, str]]  # each killed cycle's exit code and stderr
    reverted_before: list[str]  # the reverts on production once the three were killed
    result: dict  # ``factory run --once --json`` of the cycle after them


def one_check_at_a_time(repo: Path) -> None:
    """``validation.parallel_checks: 1``: each process of the scenario (each spawned cycle
    too) starts one Playwright driver, not one for each check it runs side by side (a driver
    costs about as much as the browser it launches)."""
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["validation"] = {**config.get("validation", {}), "parallel_checks": 1}
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "commit", "-qam", "one check at a time")


def analysers_quiet() -> None:
    """In a spawned cycle: the revert's security gate finds nothing, its analysers standing
    in (``analysers_find_nothing``): the scenario is not about that gate."""
    analysers_find_nothing(pytest.MonkeyPatch())


def reverts(repo: Path) -> list[str]:
    return git(repo, "log", "--format=%H", "--grep=This reverts commit", "main").split()


@pytest.fixture(scope="module")
def healed(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """Three merges, the second renaming the page's heading, and the maintainer's new
    journey that sees it: the cycles that find it are killed once right after the health
    check found production red, once right after a probe of the bisect was kept, once right
    after the revert's pull request was opened; then one cycle runs to its end."""
    root = tmp_path_factory.mktemp("healed")
    state = root / "state"
    repo, holdout = make_app(root)
    with isolated_env(state) as mp, Output() as out:
        for _ in serve(root, mp):
            one_check_at_a_time(repo)
            analysers_find_nothing(mp)
            merges = three_merges(repo, state)
            (holdout / "journeys" / "heading.yaml").write_text(HEADING)
            killed = []
            for point in KILLED_AT:
                env = {**os.environ, "FACTORY_FAULT_AT": point}
                crashed = factory(repo, env, "run", "--once", before=analysers_quiet)
                _, err = crashed.communicate(timeout=500)
                killed.append((crashed.returncode, err))
            reverted_before = reverts(repo)
            result = run_once(out, repo)
    landed_tested_trees(state)
    return Scenario(repo, state, merges, killed, reverted_before, result)


@pytest.fixture
def at(healed: Scenario, monkeypatch: pytest.MonkeyPatch) -> Scenario:
    """The scenario, with this test's commands reading its state folder."""
    monkeypatch.setenv("FACTORY_STATE_DIR", str(healed.state))
    return healed


def test_a_journey_the_second_merge_broke_reverts_exactly_that_merge(capsys, at: Scenario) -> None:
    repo, state = at.repo, at.state
    (first, _), (second, culprit), (third, _) = at.merges
    production = at.result["production"]
    assert production["green"] is False and production["outcome"] == "reverted"
    regression = production["reverting"]
    (row,) = at.result["validate"]  # the revert, through the merge queue, alone
    assert row["issue"] == regression and row["route"] == "merge" and not row["reverted"]

    store = Store.open(state)
    (heal,) = store.list_runs(limit=None, workflow="heal")
    records = RunRecords(store.steps(heal.id))
    diagnosed, blame = records.newest(Diagnosis), records.newest(Blame)
    assert diagnosed is not None and diagnosed.verdict == "regression"
    assert diagnosed.checks == ["journey:heading.yaml"]  # the notes' journey, green, is not
    assert blame is not None and blame.culprit == culprit and blame.culprit_kind == "factory"
    assert blame.issue == second and len(blame.probes) <= 3  # ⌈log2 3⌉ + 1
    healed = records.newest(Healed)
    assert healed is not None and healed.regression_issue == regression
    runs = run_cli(capsys, "--repo", str(repo), "runs", "--json").json()
    assert [r["outcome"] for r in runs if r["workflow"] == "heal"] == ["reverted"]

    # production: exactly the second merge undone, through one revert, every journey green
    assert len(reverts(repo)) == 1
    assert ">Notes<" in (repo / "app.py").read_text()
    assert (repo / "help.txt").is_file() and (repo / "CHANGES.txt").is_file()
    (validated,) = store.list_runs(limit=None, workflow="validate", issue=regression)
    smoked = [s for s in store.steps(validated.id) if s.artifact == "Smoke"]
    assert len(smoked[-1].outputs["journeys"]) == 2
    assert all(j["passed"] for j in smoked[-1].outputs["journeys"])

    # the culprit's issue reopened, linked both ways with the regression issue
    reopened, filed = issue(capsys, repo, second), issue(capsys, repo, regression)
    assert reopened["state"] == "open" and "factory:regression" in reopened["labels"]
    assert any(f"#{regression}" in c["body"] for c in reopened["comments"])
    assert filed["state"] == "open" and f"#{second}" in filed["body"]
    assert culprit[:12] in filed["body"] and "hidden user journey" in filed["body"]
    assert {"factory:regression", "kind:bug", "priority:p1"} <= set(filed["labels"])
    for said in [filed["body"], *(c["body"] for c in filed["comments"] + reopened["comments"])]:
        assert HOLDOUT_CANARY not in said and "the heading" not in said
    assert all(issue(capsys, repo, n)["state"] == "closed" for n in (first, third))
    services = open_services(repo, state)
    assert regression in [i.number for i in untriaged(services)]  # next: triage, like any issue

    # shown: the run's report, the dashboard's Health page
    report = run_cli(capsys, "--repo", str(repo), "report", heal.id).out
    assert f"culprit: factory {culprit[:12]} (issue {second})" in report
    board = Dashboard(services, "token", "someone", lambda: services)
    page = board.page("health.html", Session("s", "c"), view=healing(services))
    shown = bytes(page.body).decode()
    assert culprit[:12] in shown and f"#{regression}" in shown and "reverted" in shown


def test_killed_in_the_health_check_the_bisect_and_the_revert_the_next_cycle_lands_one_revert(
    capsys, at: Scenario
) -> None:
    """Each next cycle resumes where the last one died, through its parents' records."""
    repo = at.repo
    _, (second, culprit), _ = at.merges
    for code, err in at.killed:
        assert code == -signal.SIGKILL, err
    assert at.reverted_before == []

    regression = at.result["production"]["reverting"]
    (row,) = at.result["validate"]
    assert row["issue"] == regression and row["route"] == "merge"
    assert len(reverts(repo)) == 1 and ">Notes<" in (repo / "app.py").read_text()
    store = Store.open(at.state)
    (heal,) = store.list_runs(limit=None, workflow="heal")  # resumed, not started again
    (revert,) = store.list_runs(limit=None, workflow="revert")
    assert heal.status == revert.status == "succeeded" and revert.issue == regression
    # each through its parent's record: one cycle, one production run, resumed three times
    (cycle,) = store.list_runs(limit=None, workflow="cycle")
    (production,) = store.list_runs(limit=None, workflow="production")
    assert cycle.status == production.status == "succeeded"
    assert (production.parent, production.parent_step) == (cycle.id, "production")
    # its red check read back, not run again
    (health,) = store.list_runs(limit=None, workflow="health")
    assert health.status == "failed" and len(store.steps(health.id)) == 1
    assert (health.parent, health.parent_step) == (production.id, "health")
    assert (heal.parent, heal.parent_step) == (production.id, "heal")
    assert (revert.parent, revert.parent_step) == (production.id, "revert")
    probed = [e.data["sha"] for e in store.events(run_id=heal.id, kind="heal.probe")]
    assert len(probed) == len(set(probed))  # the probe kept before the kill was not run again
    blame = RunRecords(store.steps(heal.id)).newest(Blame)
    assert blame is not None and blame.culprit == culprit and blame.issue == second
    filed = run_cli(capsys, "--repo", str(repo), "issue", "list", "--json").json()
    assert [i["number"] for i in filed if i["author"] == "factory[bot]"] == [regression]
