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
from tests.validate.scenarios import REPLACES_A_TEST, WEAK_BUG_TEST, FullCycle, Waiting

# reads package fixtures other modules read too (``full_cycle``, ``waiting``): one worker
# runs them all
pytestmark = pytest.mark.together("validate-shared")


def decided(state: Path, number: int) -> dict[str, Any]:
    store = Store.open(state)
    (run,) = store.list_runs(limit=None, workflow="validate", issue=number)
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
    # runner); the whole suite ran twice: in implementation and on the candidate, which
    # carried #1 ahead of it (another tree); #1's candidate was the tree its implementation
    # tested, so that pass stood for it: one run
    assert proved["evidence"].startswith("`python3 -m unittest -q test_app` on production's")
    assert suite_runs(full_cycle, 2) == (2, ["python3 -m unittest -q test_app"])
    assert suite_runs(full_cycle, 1) == (1, [])  # a feature: no proof


def suite_runs(played: FullCycle, number: int) -> tuple[int, list[str]]:
    """What ``factory report`` of the issue's validation says of its suite runs."""
    store = Store.open(played.state)
    (run,) = store.list_runs(limit=None, workflow="validate", issue=number)
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
def test_a_change_that_replaces_an_existing_test_waits_for_a_person(waiting: Waiting) -> None:
    # "how many notes", its implementer replacing a test by another: the same counts (#3)
    n = REPLACES_A_TEST
    decision = decided(waiting.state, n)
    assert decision["route"] == "needs_review", decision["reason"]
    kept = gate(decision, "tests_kept")
    removed = "test_app.py::NotesTest::test_render_escapes: gone (removed or renamed)"
    assert not kept["passed"] and kept["evidence"] == removed, kept
    assert removed in decision["reason"]
    assert "factory:needs-review" in waiting.first[n]["labels"]
    assert b"notes</p>" not in waiting.main_after_first


def test_a_test_is_its_id(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    js = (
        "describe('notes', () => {\n  it('adds', () => { expect(1).toBe(1) })\n"
        "  it('keeps', () => { expect(2).toBe(2); expect(3).toBe(3) })\n})\n"
        "test('b', () => {})\nconst s = \"it('in a string', () => {})\"\n"
    )
    klass = "class TestNotes:\n    def test_add(self):\n        assert 1\n"
    files = {
        "tests/test_a.py": "def test_one():\n    assert 1\n\ndef test_two():\n    assert 2\n",
        "tests/test_b.py": "def test_one():\n    assert 1\n    assert 2\n",
        "tests/test_c.py": "def test_one():\n    assert 1\n",
        "tests/test_d.py": "import unittest\n\n@unittest.skip('later')\n" + klass,
        "tests/test_e.py": klass,
        "tests/test_f.py": klass,
        "tests/test_g.py": "def test_one():\n    assert 1\n",
        "web/app.test.js": js,
        "app.py": "x = 1\n",
    }
    write_files(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    assert set(proof.tests_in("web/app.test.js", js.encode())) == {
        "web/app.test.js::notes > adds",
        "web/app.test.js::notes > keeps",
        "web/app.test.js::b",
    }
    changed = {
        "tests/test_a.py": files["tests/test_a.py"].replace(
            "def test_two", "@pytest.mark.skip\ndef test_two"
        ),
        "tests/test_b.py": "def test_one():\n    assert 1\n",
        "tests/test_d.py": "import unittest\n\n" + klass,  # a skipped test runs again: kept
        # replaced by another with as many assertions, and renamed
        "tests/test_e.py": klass.replace("test_add", "test_other"),
        "tests/test_f.py": klass.replace("TestNotes", "TestTheNotes"),
        "tests/test_g.py": files["tests/test_g.py"] + "\ndef test_two():\n    assert 2\n",
        "tests/test_new.py": "def test_new():\n    assert 3\n",
        "web/app.test.js": js.replace("it('adds'", "it('adds one'")
        .replace("expect(3).toBe(3)", "return")
        .replace("test('b'", "test.skip('b'"),
        "app.py": "x = 2\n",
    }
    write_files(repo, changed)
    (repo / "tests/test_c.py").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "change")
    g = GitRepo(repo)
    paths = g.paths_between("main~1", "main")
    assert proof.tests_lost(g, "main~1", "main", paths) == [
        "tests/test_a.py::test_two: skipped",
        "tests/test_b.py::test_one: 2 assertions before, 1 after",
        "tests/test_c.py: removed, with 1 tests: tests/test_c.py::test_one",
        "tests/test_e.py::TestNotes::test_add: gone (removed or renamed)",
        "tests/test_f.py::TestNotes::test_add: gone (removed or renamed)",
        "web/app.test.js::notes > adds: gone (removed or renamed)",
        "web/app.test.js::notes > keeps: 2 assertions before, 1 after",
        "web/app.test.js::b: skipped",
    ]
    # a change that only adds tests loses none
    assert proof.tests_lost(g, "main~1", "main", ["tests/test_g.py", "tests/test_new.py"]) == []
    assert proof.new_tests(g, "main", paths) == [
        "tests/test_a.py",
        "tests/test_b.py",
        "tests/test_d.py",
        "tests/test_e.py",
        "tests/test_f.py",
        "tests/test_g.py",
        "tests/test_new.py",
        "web/app.test.js",
    ]
    assert not proof.is_test_file("app.py") and proof.is_test_file("src/__tests__/x.ts")
    assert proof.tests_in("broken.py", b"def test_(:\n") == proof.tests_in("x.py", None) == {}
