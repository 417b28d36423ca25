"""What a backtest tells apart from a verdict (docs/backtest.md): an app that starts slower
than ``commands.ready_timeout_s`` is inconclusive, tried again with no fix attempt spent and
its row saying why; a grade proves its hidden tests ran (by name, ``commands.test_files``)
or the case is unproven; a hold-out that does not fit a case's base is reported before any
model call; an imported history's ``Fix #1`` is no case of this forge's issue #1.

The candidate's own checks stand in as passed (``tests/checks_passed.py``'s ``checked``):
production's calibration (the hold-out's fit) and the grade run for real (the grade's test, of
no journey, stands the validation's calibration in too)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.store.db import Store
from tests.backtest.conftest import COUNT_TEST, TITLE_1, history
from tests.backtest.test_manifest import suite
from tests.checks_passed import calibrated, checked
from tests.cli_helpers import run_cli, use_actions
from tests.factory_repo import git

pytestmark = [pytest.mark.timeout(600)]

SLOW = 3  # seconds the app takes to start: three times the small limit below


def _commands(repo: Path, **given: object) -> None:
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["commands"].update(given)
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "commit", "-qam", f"commands: {sorted(given)}")


def _backtest(tmp_path: Path, capsys, repo: Path, test: str = COUNT_TEST) -> dict:
    base, fix = suite(tmp_path / "suites" / "notes", test)
    manifest = tmp_path / "suites" / "cases.yaml"
    case = {"id": "count", "title": TITLE_1, "body": "Show 'N notes'.", "base": base, "fix": fix}
    manifest.write_text(json.dumps({"repo": "notes", "cases": [case]}))
    res = run_cli(capsys, "--repo", str(repo), "backtest", "--manifest", str(manifest), "--json")
    assert res.code in (0, 1), res.err
    (row,) = res.json()["cases"]
    return dict(row)


@pytest.mark.browser
def test_a_start_slower_than_its_setting_is_inconclusive_and_judged_with_it(
    tmp_path: Path, capsys, standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Django-style start (a banner, a warning, then the server, ``SLOW`` seconds on):
    under a one-second ``commands.ready_timeout_s`` production's calibration is inconclusive,
    tried again (no fix attempt spent: no validator asked, one implementation) until the
    factory gives up, the row saying why and naming the setting; with room, it is judged."""
    use_actions(monkeypatch, checked)
    repo = history(tmp_path / "slow", capsys)
    start = (
        "echo 'Watching for file changes with StatReloader'; "
        "echo 'RuntimeWarning: DateTimeField received a naive datetime' >&2; "
        f"sleep {SLOW}; exec python3 app.py --port {{port}}"
    )
    _commands(repo, start=start, ready_timeout_s=1)
    row = _backtest(tmp_path / "slow", capsys, repo)
    assert (row["resolved"], row["inconclusive"], row["route"]) == (None, True, None), row["reason"]
    assert "commands.ready_timeout_s" in row["reason"] and "3 tries" in row["reason"], row
    assert "StatReloader" in row["reason"] and "RuntimeWarning" not in row["reason"]
    (state,) = (tmp_path / "state" / "backtest").glob("bt-*/count-*/state")
    store = Store.open(state)
    assert len(store.list_runs(limit=None, workflow="implement")) == 1  # no attempt spent
    (validation,) = store.list_runs(limit=None, workflow="validate")
    tried = [s for s in store.steps(validation.id) if s.error_kind == "inconclusive"]
    assert len(tried) == 3  # tried again twice, then a person is told the cause, not "sandbox"
    assert "commands.ready_timeout_s" in str(tried[-1].error), tried[-1].error
    asked = [json.dumps(b) for _, b in standin.received]
    assert not any("submit_verdict" in body for body in asked)  # no validator asked

    repo = history(tmp_path / "room", capsys)
    _commands(repo, start=start, ready_timeout_s=SLOW * 40)
    row = _backtest(tmp_path / "room", capsys, repo)
    assert (row["route"], row["resolved"], row["inconclusive"]) == ("merge", True, False), row


def test_a_grade_that_ran_no_hidden_test_is_unproven_and_one_by_name_resolves(
    tmp_path: Path, capsys, standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hidden test lives in a file of its own; ``commands.test`` runs the other file and
    fits no template: the graded suite passes, no hidden test ran, the case is unproven.
    With ``commands.test_files`` the hidden tests run by name on the graded tree: resolved,
    one ran and passed. The grade is the subject: a hold-out of no journey, production's
    calibration standing in as passed beside the candidate's checks."""
    use_actions(monkeypatch, calibrated, checked)
    hidden = "import unittest\n\nfrom app import render\n\n\nclass Count(unittest.TestCase):"
    hidden += COUNT_TEST

    def case(where: Path, **given: object) -> dict:
        repo = history(where, capsys, journeys=False)
        _commands(repo, test="python3 -m unittest -q test_app && true", **given)
        base, fix = suite(where / "suites" / "notes", "")
        (where / "suites" / "notes" / "test_count.py").write_text(hidden)
        git(where / "suites" / "notes", "add", "-A")
        git(where / "suites" / "notes", "commit", "-qm", "the count's test, a file of its own")
        fix = git(where / "suites" / "notes", "rev-parse", "HEAD").strip()
        manifest = where / "suites" / "cases.yaml"
        one = {"id": "count", "title": TITLE_1, "body": "Show 'N notes'.", "base": base}
        manifest.write_text(json.dumps({"repo": "notes", "cases": [{**one, "fix": fix}]}))
        said = run_cli(
            capsys, "--repo", str(repo), "backtest", "--manifest", str(manifest), "--json"
        )
        assert said.code == 0, said.err
        return dict(said.json()["cases"][0])

    row = case(tmp_path / "suite")
    assert row["hidden_tests"] == ["test_count.py"] and row["graded"]["exit_code"] == 0
    assert (row["resolved"], row["graded"]["hidden_ran"]) == (None, 0), row
    assert "no hidden test ran" in row["reason"]
    row = case(tmp_path / "named", test_files="python3 -m unittest -q {tests}")
    graded = row["graded"]
    assert (row["resolved"], graded["hidden_ran"], graded["hidden_passed"]) == (True, 1, 1), row


@pytest.mark.browser
def test_a_base_whose_page_lacks_what_the_hold_out_expects_is_reported_before_any_model_call(
    tmp_path: Path, capsys, standin
) -> None:
    """The hold-out clicks an "Add" button the case's base does not have (a year earlier it
    said "Save"): the case's row says so, and the model was never asked."""
    repo = history(tmp_path, capsys)
    base, fix = suite(tmp_path / "suites" / "notes", COUNT_TEST)
    notes = tmp_path / "suites" / "notes"
    page = (notes / "app.py").read_text()
    git(notes, "checkout", "-q", base)
    (notes / "app.py").write_text(page.replace(">Add</button>", ">Save</button>"))
    git(notes, "commit", "-qam", "a year earlier, the button said Save")
    old = git(notes, "rev-parse", "HEAD").strip()
    git(notes, "checkout", "-q", "trunk")
    manifest = tmp_path / "suites" / "cases.yaml"
    case = {"id": "old", "title": TITLE_1, "body": "Show 'N notes'.", "base": old, "fix": fix}
    manifest.write_text(json.dumps({"repo": "notes", "cases": [case]}))
    git(notes, "merge", "-q", "--no-edit", "-s", "ours", old)  # the base is an ancestor of the fix
    fix = git(notes, "rev-parse", "HEAD").strip()
    manifest.write_text(json.dumps({"repo": "notes", "cases": [{**case, "fix": fix}]}))
    res = run_cli(capsys, "--repo", str(repo), "backtest", "--manifest", str(manifest), "--json")
    (row,) = res.json()["cases"]
    assert "the hold-out does not fit this base" in row["reason"], row
    assert (row["triage"], row["cost_usd"]) == (None, 0.0)
    assert standin.received == []  # before any model call


@pytest.mark.browser
def test_a_check_learned_from_a_later_merge_is_no_part_of_an_earlier_bases_hold_out(
    tmp_path: Path, capsys, standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hold-out holds the check learned from the case's own fix (its page says "0 notes",
    which the base does not): the base's history holds no such merge, so the check is not the
    base's to fit, and the case is rehearsed and graded (every case of a history whose fixes
    taught checks was reported as a base the hold-out does not fit, and rehearsed nothing)."""
    use_actions(monkeypatch, checked)
    repo = history(tmp_path, capsys)
    base, fix = suite(tmp_path / "suites" / "notes", COUNT_TEST)
    check = {"id": "1-C1", "merge": fix, "quote": "0 notes"}
    learned = tmp_path / "notes-holdout" / "learned"
    learned.mkdir()
    (learned / "1-C1.yaml").write_text(
        yaml.safe_dump({**check, "actions": [["browser_navigate", {"url": "/"}]]})
    )
    manifest = tmp_path / "suites" / "cases.yaml"
    case = {"id": "count", "title": TITLE_1, "body": "Show 'N notes'.", "base": base, "fix": fix}
    manifest.write_text(json.dumps({"repo": "notes", "cases": [case]}))
    res = run_cli(capsys, "--repo", str(repo), "backtest", "--manifest", str(manifest), "--json")
    (row,) = res.json()["cases"]
    assert (row["route"], row["resolved"]) == ("merge", True), row["reason"]


def test_an_imported_historys_fix_1_is_no_case_of_this_forges_issue_1(
    tmp_path: Path, capsys
) -> None:
    """A history imported from elsewhere: a 2011 commit says ``Fix #1`` (another tracker's
    #1); this forge's issue #1 was filed now. No case; a commit made after the issue is one."""
    from tests.factory_repo import make_factory_repo

    repo = make_factory_repo(tmp_path / "repo")
    dated = {"GIT_COMMITTER_DATE": "2011-03-01T12:00:00", "GIT_AUTHOR_DATE": "2011-03-01T12:00"}
    (repo / "old.txt").write_text("fixed long ago\n")
    git(repo, "add", "old.txt")
    message = ["git", "commit", "-qm", "Fix #1: the upstream crash"]
    subprocess.run(message, cwd=repo, check=True, env={**os.environ, **dated})
    filed = run_cli(capsys, "--repo", str(repo), "issue", "new", "--title", "Count the notes")
    assert filed.code == 0, filed.err
    args = ("--repo", str(repo), "backtest", "--issue", "1", "--json")
    refused = run_cli(capsys, *args)
    assert refused.code == 2 and "made after that issue was opened" in refused.err
    (repo / "new.txt").write_text("fixed here\n")
    git(repo, "add", "new.txt")
    git(repo, "commit", "-qm", "Count the notes\n\nFixes #1")
    from harness.backtest.cases import history_cases
    from harness.cli.common import state_dir
    from harness.services import open_services

    services = open_services(repo, state_dir(repo))
    (case,) = history_cases(services, (1,))
    assert case.fix == git(repo, "rev-parse", "HEAD").strip()
