"""Tests that prove the change: a change that removes an existing test, or a bug fix whose
new test passes without it, is never merged on its own; a bug fix whose test fails on the code
it replaces merges. Through the real cycle (sandbox, browser, scripted model over the SDK) and,
for the counting rules, on a real repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.git.repo import GitRepo
from harness.store.db import Store
from harness.validate import proof
from tests.conftest import git
from tests.factory_repo import write_files
from tests.validate.conftest import file_issues, serve
from tests.validate.test_validate import issue, run_once

FINISH = {"tool": "finish", "input": {"summary": "Done, with a test."}}


def implement_rule(match: str, edits: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "output": "finish",
        "match": match,
        "turns": [[{"tool": "edit_file", "input": e} for e in edits], [FINISH]],
    }


TABS_FIX = {
    "path": "app.py",
    "old_text": '    text = text.strip(" ")',
    "new_text": "    text = text.strip()",
}


def decided(state: Path, number: int) -> dict[str, Any]:
    store = Store.open(state)
    (run,) = store.list_runs(workflow="validate", issue=number)
    return next(s.outputs for s in store.steps(run.id) if s.step_id == "decide")


def gate(decision: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [g for g in decision["gates"] if g["name"] == name]
    return found


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_a_bug_fix_whose_test_fails_before_the_fix_merges(
    tmp_path: Path, capsys, app, standin
) -> None:
    repo, _ = app
    file_issues(capsys, repo, [2])  # as #1: tabs-only notes; the demo's fix adds a test for it
    run_once(capsys, repo)
    decision = decided(tmp_path / "state", 1)
    assert decision["route"] == "merge", decision["reason"]
    proved = gate(decision, "bug_test_fails_before")
    assert proved["passed"] and "test_app.py" in proved["evidence"], proved
    assert "so they show the bug" in proved["evidence"]
    assert gate(decision, "tests_kept")["passed"]
    assert "factory:merged" in issue(capsys, repo, 1)["labels"]


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_a_bug_fix_whose_new_test_passes_on_production_waits_for_a_person(
    tmp_path: Path, capsys, app, monkeypatch
) -> None:
    repo, _ = app
    weak = {
        "path": "test_app.py",
        "old_text": "    def test_add_note(self):",
        "new_text": "    def test_spaces_are_refused(self):\n        with self.assertRaises("
        'ValueError):\n            add_note([], "  ")\n\n    def test_add_note(self):',
    }
    for _ in serve(tmp_path, monkeypatch, [implement_rule("only tabs", [TABS_FIX, weak])]):
        file_issues(capsys, repo, [2])
        run_once(capsys, repo)
    decision = decided(tmp_path / "state", 1)
    assert decision["route"] == "needs_review", decision["reason"]
    proved = gate(decision, "bug_test_fails_before")
    assert not proved["passed"] and "exited 0" in proved["evidence"], proved
    assert "the tests do not prove the change" in decision["reason"]
    data = issue(capsys, repo, 1)
    assert "factory:needs-review" in data["labels"] and data["state"] == "open"
    assert GitRepo(repo).read_blob("main", "app.py") is not None
    assert b"text.strip()" not in (GitRepo(repo).read_blob("main", "app.py") or b"")


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_a_change_that_deletes_an_existing_test_waits_for_a_person(
    tmp_path: Path, capsys, app, monkeypatch
) -> None:
    repo, _ = app
    count = {
        "path": "app.py",
        "old_text": '        "<h1>Notes</h1>"\n',
        "new_text": '        "<h1>Notes</h1>"\n        f\'<p id="count">{len(notes)} notes</p>\'\n',
    }
    drop = {
        "path": "test_app.py",
        "old_text": '    def test_render_escapes(self):\n        self.assertIn("&lt;b&gt;", '
        'render(["<b>"]))\n',
        "new_text": "",
    }
    for _ in serve(tmp_path, monkeypatch, [implement_rule("how many notes", [count, drop])]):
        file_issues(capsys, repo, [1])
        run_once(capsys, repo)
    decision = decided(tmp_path / "state", 1)
    assert decision["route"] == "needs_review", decision["reason"]
    kept = gate(decision, "tests_kept")
    assert not kept["passed"] and kept["evidence"].startswith("test_app.py: 3 tests"), kept
    assert "factory:needs-review" in issue(capsys, repo, 1)["labels"]
    assert b"notes</p>" not in (GitRepo(repo).read_blob("main", "app.py") or b"")


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
