"""``factory backtest`` on a repository whose history holds two fixed issues: the real
workflows in scratch places, graded by the fixes' hidden tests, nothing of the factory's own
forge, runs or production touched, the hidden tests in no model request."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from harness import doctor
from harness.artifacts import Baseline, HoldoutRun, SetupRecord
from harness.backtest import runner
from harness.config.settings import Settings
from harness.engine.records import RunRecords
from harness.git.worktrees import recorded_tmpfs
from harness.sandbox import policy
from harness.serve.app import Dashboard, create_app
from harness.services import open_services
from harness.store.db import Store
from harness.validate import evidence
from tests.backtest.conftest import (
    CANARY_1,
    CANARY_2,
    TITLE_1,
    TITLE_2,
    history,
    requests_text,
)
from tests.cli_helpers import run_cli
from tests.factory_repo import git

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]


def cli(capsys, repo: Path, *args: str) -> Any:
    res = run_cli(capsys, "--repo", str(repo), *args)
    # a backtest's exit 1 says each case broke; why is each row's reason, on stdout
    assert res.code == 0, res.err + res.out
    return res.json()


def side_by_side(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both cases must be under way at once: each waits at its start until the other got
    there (a backtest taking them one at a time breaks the barrier)."""
    barrier = threading.Barrier(2, timeout=120)
    real = runner.scratch_issue

    def waiting(services, case):  # type: ignore[no-untyped-def]
        barrier.wait()
        return real(services, case)

    monkeypatch.setattr(runner, "scratch_issue", waiting)


def dashboard(repo: Path, state: Path) -> str:
    """The Backtest page as ``factory serve`` shows it (its app, in this process)."""
    services = open_services(repo, state)
    try:
        client = TestClient(create_app(Dashboard(services, "t0k3n", "someone", lambda: services)))
        assert client.get("/?token=t0k3n").status_code == 200
        page = client.get("/backtest")
        assert page.status_code == 200
        return page.text
    finally:
        services.store.close()


def set_up_trees_kept(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, Path]]:
    """(the state, the folder) of each set-up tree a case kept, seen on disk as it was kept."""
    real, kept = policy._keep, []

    def keep(settings: Settings, path: Path, key: str, record: SetupRecord) -> None:
        real(settings, path, key, record)
        tree = policy.setups_root(settings.state_dir) / f"{key}-{record.commit}"
        assert (tree / "tree" / ".cache" / "setup").is_file() and (tree / policy.RECORD).is_file()
        kept.append((settings.state_dir, tree))

    monkeypatch.setattr(policy, "_keep", keep)
    return kept


def apps_started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every app started for a check (the hold-out's fit, a calibration, a
    candidate's journeys or validator, a doctor's), as it starts."""
    names: list[str] = []
    real = evidence.fresh_app

    def fresh_app(settings: Settings, prepared: Path, name: str) -> Any:
        names.append(name)
        return real(settings, prepared, name)

    for module in (evidence, doctor):
        monkeypatch.setattr(module, "fresh_app", fresh_app)
    return names


def test_two_fixed_issues_one_resolved_one_a_false_merge_nothing_real_touched(
    tmp_path: Path, capsys, standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = history(tmp_path, capsys)
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["commands"]["setup"] = "mkdir -p .cache && echo ready > .cache/setup"  # kept
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "commit", "-qam", "a setup whose tree each case keeps")
    main = git(repo, "rev-parse", "main").strip()
    issues_before = [cli(capsys, repo, "issue", "show", n, "--json") for n in ("1", "2")]
    side_by_side(monkeypatch)
    monkeypatch.setenv("FACTORY_WORKTREE_ROOT", "tmpfs")  # whatever room /dev/shm has now
    kept = set_up_trees_kept(monkeypatch)
    apps = apps_started(monkeypatch)

    out = cli(capsys, repo, "backtest", "--json")

    rows = {row["issue"]: row for row in out["cases"]}
    assert sorted(rows) == [1, 2] and out["source"] == "history of main"
    right, wrong = rows[1], rows[2]
    assert (right["triage"], right["route"], right["resolved"]) == ("accept", "merge", True)
    assert (wrong["triage"], wrong["route"], wrong["resolved"]) == ("accept", "merge", False)
    assert right["hidden_tests"] == wrong["hidden_tests"] == ["test_app.py"]
    assert right["graded"]["exit_code"] == 0
    assert right["graded"]["fails_before"] is True  # the hidden test fails on the fix's parent
    assert "test_blank_notes_are_refused" in wrong["graded"]["output"]  # the hidden test failed
    # the whole suite ran twice for the bug case: in implementation, whose pass stood for the
    # candidate of the same tree, and on the graded head; its proof and the hidden tests on
    # the fix's parent ran those tests alone
    assert (wrong["kind"], wrong["suite_runs"]) == ("bug", 2)
    assert right["graded"]["before_command"] == "python3 -m unittest -q test_app"
    for row in (right, wrong):
        assert row["validator"] == {"verdict": "pass", "score": 0.95}
        assert row["trust_held"]  # no kind has earned trust in a rehearsal: a person would look
        assert row["cost_usd"] > 0 and row["seconds"] > 0
    assert out["summary"] == {
        "cases": 2,
        "finished": 2,
        "accepted": 2,
        "resolved": 1,
        "would_merge": 2,
        "false_merges": 1,
        "missed": 0,
        "unproven": 0,
        "inconclusive": 0,
        "cost_usd": pytest.approx(right["cost_usd"] + wrong["cost_usd"], abs=1e-5),
        "cost_per_resolved_usd": pytest.approx(right["cost_usd"] + wrong["cost_usd"], abs=1e-5),
        "seconds": pytest.approx(right["seconds"] + wrong["seconds"], abs=0.2),
    }

    # the hold-out's fit is each case's calibration, one app on its base (of its one
    # journey) that its validation reads, never started again (nor the doctor's twin)
    scratch = sorted((tmp_path / "state" / "backtest" / out["backtest"]).glob("*/state"))
    for state in scratch:
        store = Store.open(state)
        (run,) = store.list_runs(limit=None, workflow="calibrate")
        (validation,) = store.list_runs(limit=None, workflow="validate")
        fit = RunRecords(store.steps(run.id)).newest(HoldoutRun)
        baseline = RunRecords(store.steps(validation.id)).newest(Baseline)
        assert fit is not None and fit.journeys_passed and len(fit.journeys) == 1
        assert baseline is not None and baseline.cached and baseline.tree == fit.tree
        fitted = [a for a in apps if a.startswith(f"{run.id}-baseline-")]
        again = [a for a in apps if a.startswith(f"{validation.id}-baseline-")]
        assert (len(fitted), again) == (1, [])
        store.close()
    assert not [a for a in apps if a.startswith("doctor")]

    # nothing of the factory's own moved: production, the issues, the runs
    assert git(repo, "rev-parse", "main").strip() == main
    assert git(repo, "branch", "--list").split() == ["*", "main"]
    assert [cli(capsys, repo, "issue", "show", n, "--json") for n in ("1", "2")] == issues_before
    assert cli(capsys, repo, "runs", "--json") == []
    status = cli(capsys, repo, "status", "--json")
    assert status["autonomy_index"]["finished"] == 0
    # the maintainer let the backtest count for trust (backtest.counts_for_trust): the
    # resolved feature counts; the bug fix that would have merged wrongly earns nothing
    trust = {t["kind"]: t for t in status["trust"]}
    assert (trust["feature"]["earned"], trust["feature"]["from_backtest"]) == (1, 1)
    assert trust["feature"]["auto"]
    assert "bug" not in trust  # nothing earned: not seen by trust

    # the seal held: no hidden test reached a model request of the case it grades (the
    # second fix's base holds the first fix's tests, as they were then)
    texts = requests_text(standin)
    assert any(TITLE_1 in t for t in texts) and any(TITLE_2 in t for t in texts)
    assert not any(CANARY_2 in t for t in texts)
    assert not any(CANARY_1 in t for t in texts if TITLE_1 in t and TITLE_2 not in t)

    # each case's scratch state stays as evidence; its worktrees and the set-up trees it kept
    # (on tmpfs: memory) are gone
    assert len(scratch) == 2
    assert all(recorded_tmpfs(s) is None for s in scratch)  # its folder there, removed whole
    assert {s.resolve() for s, _ in kept} == {s.resolve() for s in scratch}  # a tree kept each
    assert all(tree.is_relative_to("/dev/shm") and not tree.exists() for _, tree in kept)

    page = dashboard(repo, tmp_path / "state")
    assert out["backtest"] in page and '<td id="false-merges">1</td>' in page
    assert TITLE_1 in page and "trust: a person reviews" in page

    # off (the default), no backtest counts for trust
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["backtest"] = {"counts_for_trust": False}
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "commit", "-qam", "rehearsals do not earn trust")
    trust = {t["kind"]: t for t in cli(capsys, repo, "status", "--json")["trust"]}
    assert "feature" not in trust or (trust["feature"]["earned"], trust["feature"]["auto"]) == (
        0,
        False,
    )
