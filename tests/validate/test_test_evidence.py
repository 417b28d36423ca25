"""Tests that prove the change: a change that removes an existing test, or a bug fix whose
new test passes without it, is never merged on its own; a bug fix whose test fails on the code
it replaces merges. Through the real cycle (sandbox, browser, scripted model over the SDK) and,
for the counting rules, on a real repository."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from harness.git.repo import GitRepo
from harness.store.db import Store
from harness.validate import proof
from tests.cli_helpers import run_cli
from tests.conftest import git
from tests.factory_repo import write_files
from tests.validate.conftest import Output, isolated_env
from tests.validate.scenarios import DELETES_A_TEST, WEAK_BUG_TEST, FullCycle, Waiting

# reads package fixtures other modules read too (``full_cycle``, ``waiting``): one worker
# runs them all
pytestmark = pytest.mark.together("validate-shared")


def decided(state: Path, number: int) -> dict[str, Any]:
    store = Store.open(state)
    (run,) = store.list_runs(workflow="validate", issue=number)
    return next(s.outputs for s in store.steps(run.id) if s.step_id == "decide")


def gate(decision: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [g for g in decision["gates"] if g["name"] == name]
    return found


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_a_bug_fix_whose_test_fails_before_the_fix_merges(full_cycle: FullCycle) -> None:
    # #2 of the full cycle: tabs-only notes; the demo's fix adds a test for it
    decision = decided(full_cycle.state, 2)
    assert decision["route"] == "merge", decision["reason"]
    proved = gate(decision, "bug_test_fails_before")
    assert proved["passed"] and "test_app.py" in proved["evidence"], proved
    assert "so they show the bug" in proved["evidence"]
    assert gate(decision, "tests_kept")["passed"]
    assert "factory:merged" in full_cycle.issues[2]["labels"]
    # the proof ran only the change's tests (commands.test_files, made from the unittest
    # runner); the whole suite ran twice: in implementation and on the candidate
    assert proved["evidence"].startswith("`python3 -m unittest -q test_app` on production's")
    assert suite_runs(full_cycle, 2) == (2, ["python3 -m unittest -q test_app"])
    assert suite_runs(full_cycle, 1) == (2, [])  # a feature: no proof


def suite_runs(played: FullCycle, number: int) -> tuple[int, list[str]]:
    """What ``factory report`` of the issue's validation says of its suite runs."""
    store = Store.open(played.state)
    (run,) = store.list_runs(workflow="validate", issue=number)
    store.close()
    with isolated_env(played.state), Output() as out:
        text = run_cli(out, "--repo", str(played.repo), "report", run.id).out
    found = re.search(rf"suite runs for issue {number}: (\d+)", text)
    assert found, text
    return int(found[1]), re.findall(r"chosen tests: `([^`]*)`", text)


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_a_bug_fix_whose_new_test_passes_on_production_waits_for_a_person(
    waiting: Waiting,
) -> None:
    # tabs-only notes, fixed with a test of spaces (#4 of tests/validate/scenarios.py's WAITING)
    n = WEAK_BUG_TEST
    decision = decided(waiting.state, n)
    assert decision["route"] == "needs_review", decision["reason"]
    proved = gate(decision, "bug_test_fails_before")
    assert not proved["passed"] and "exited 0" in proved["evidence"], proved
    assert "a person decides what the gates cannot" in decision["reason"]
    data = waiting.first[n]
    assert "factory:needs-review" in data["labels"] and data["state"] == "open"
    assert waiting.main_after_first  # production's app.py, without the fix
    assert b"text.strip()" not in waiting.main_after_first


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_a_change_that_deletes_an_existing_test_waits_for_a_person(waiting: Waiting) -> None:
    # "how many notes", its implementer deleting a test (#3 of WAITING)
    n = DELETES_A_TEST
    decision = decided(waiting.state, n)
    assert decision["route"] == "needs_review", decision["reason"]
    kept = gate(decision, "tests_kept")
    assert not kept["passed"] and kept["evidence"].startswith("test_app.py: 3 tests"), kept
    assert "factory:needs-review" in waiting.first[n]["labels"]
    assert b"notes</p>" not in waiting.main_after_first


def test_what_counts_as_losing_a_test(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    files = {
        "tests/test_a.py": "def test_one():\n    assert 1\n\ndef test_two():\n    assert 2\n",
        "tests/test_b.py": "def test_one():\n    assert 1\n    assert 2\n",
        "tests/test_c.py": "def test_one():\n    assert 1\n",
        "tests/test_d.py": "def test_one():\n    assert 1\n",
        "web/app.test.js": "it('a', () => { expect(1).toBe(1) })\ntest('b', () => {})\n",
        "app.py": "x = 1\n",
    }
    write_files(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    (repo / "tests/test_a.py").write_text(
        "import pytest\n\ndef test_one():\n    assert 1\n\n@pytest.mark.skip\ndef test_two():\n"
        "    assert 2\n"
    )
    (repo / "tests/test_b.py").write_text("def test_one():\n    assert 1\n")
    (repo / "tests/test_c.py").unlink()
    (repo / "tests/test_d.py").write_text("def test_one():\n    pytest.skip('later')\n")
    (repo / "web/app.test.js").write_text("it('a', () => { expect(1).toBe(1) })\ntest.skip('b')\n")
    (repo / "tests/test_new.py").write_text("def test_new():\n    assert 3\n")
    (repo / "app.py").write_text("x = 2\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "change")
    g = GitRepo(repo)
    changed = g.paths_between("main~1", "main")
    assert proof.tests_lost(g, "main~1", "main", changed) == [
        "tests/test_a.py: 2 tests that run before, 1 after",
        "tests/test_b.py: 2 assertions before, 1 after",
        "tests/test_c.py: removed (1 tests)",
        "tests/test_d.py: 1 tests that run before, 0 after",
        "web/app.test.js: 2 tests that run before, 1 after",
    ]
    assert proof.new_tests(g, "main", changed) == [
        "tests/test_a.py",
        "tests/test_b.py",
        "tests/test_new.py",
        "web/app.test.js",
    ]
    assert not proof.is_test_file("app.py") and proof.is_test_file("src/__tests__/x.ts")
    assert proof.count_tests("broken.py", b"def test_(:\n") == proof.count_tests("x.py", None)
