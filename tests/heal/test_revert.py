"""A later check finds what a factory merge broke: heal blames exactly that merge and reverts
it through the merge queue, through ``factory run --once`` (docs/heal.md)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from harness.artifacts import Blame, Diagnosis, Healed
from harness.engine.records import RunRecords
from harness.serve.app import Dashboard, Session
from harness.serve.health_page import heal_rows, newest_green
from harness.services import open_services
from harness.store.db import Store
from harness.triage.queue import untriaged
from tests.checks_passed import CHECKS_PASSED
from tests.cli_helpers import run_cli, use_actions
from tests.cli_helpers import spawn as factory
from tests.factory_repo import git
from tests.heal.conftest import HEADING, three_merges
from tests.validate.conftest import HOLDOUT_CANARY, issue, run_once

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


def reverts(repo: Path) -> list[str]:
    return git(repo, "log", "--format=%H", "--grep=This reverts commit", "main").split()


def test_a_journey_the_second_merge_broke_reverts_exactly_that_merge(
    tmp_path: Path, capsys, app, standin
) -> None:
    repo, holdout = app
    state = tmp_path / "state"
    (first, _), (second, culprit), (third, _) = three_merges(repo, state)
    (holdout / "journeys" / "heading.yaml").write_text(HEADING)  # the maintainer's new journey

    result = run_once(capsys, repo)
    production = result["production"]
    assert production["green"] is False and production["outcome"] == "reverted"
    regression = production["reverting"]
    (row,) = result["validate"]  # the revert, through the merge queue, alone
    assert row["issue"] == regression and row["route"] == "merge" and not row["reverted"]

    store = Store.open(state)
    (heal,) = store.list_runs(workflow="heal")
    records = RunRecords(store.steps(heal.id))
    diagnosed, blame = records.newest(Diagnosis), records.newest(Blame)
    assert diagnosed is not None and diagnosed.verdict == "regression"
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
    (validated,) = store.list_runs(workflow="validate", issue=regression)
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
    board = Dashboard(services, "token")
    page = board.page(
        "health.html",
        Session("s", "c", "a"),
        green=newest_green(services),
        heals=heal_rows(services),
    )
    shown = bytes(page.body).decode()
    assert culprit[:12] in shown and f"#{regression}" in shown and "reverted" in shown


def test_killed_in_the_health_check_the_bisect_and_the_revert_the_next_cycle_lands_one_revert(
    tmp_path: Path, capsys, app, standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kill -9`` once right after the health check found production red, once right after
    a probe of the bisect was kept, once right after the revert's pull request was opened:
    each next cycle resumes where the last one died, through its parents' records. The
    revert's validation, where no kill falls, lands it on records saying its checks passed
    (``tests/checks_passed.py``; the test above validates a revert for real)."""
    repo, holdout = app
    state = tmp_path / "state"
    _, (second, culprit), _ = three_merges(repo, state)
    (holdout / "journeys" / "heading.yaml").write_text(HEADING)
    for point in ("health.health.failed", "heal.bisect.probed", "implement.pr.created"):
        crashed = factory(repo, {**os.environ, "FACTORY_FAULT_AT": point}, "run", "--once")
        _, err = crashed.communicate(timeout=500)
        assert crashed.returncode == -signal.SIGKILL, err
    assert reverts(repo) == []

    use_actions(monkeypatch, *CHECKS_PASSED)
    result = run_once(capsys, repo)
    regression = result["production"]["reverting"]
    (row,) = result["validate"]
    assert row["issue"] == regression and row["route"] == "merge"
    assert len(reverts(repo)) == 1 and ">Notes<" in (repo / "app.py").read_text()
    store = Store.open(state)
    (heal,) = store.list_runs(workflow="heal")  # resumed, not started again
    (revert,) = store.list_runs(workflow="revert")
    assert heal.status == revert.status == "succeeded" and revert.issue == regression
    # each through its parent's record: one cycle, one production run, resumed three times
    (cycle,) = store.list_runs(workflow="cycle")
    (production,) = store.list_runs(workflow="production")
    assert cycle.status == production.status == "succeeded"
    assert (production.parent, production.parent_step) == (cycle.id, "production")
    (health,) = store.list_runs(workflow="health")  # its red check read back, not run again
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
