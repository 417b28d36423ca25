"""A manifest names cases from another repository: its commits are rebuilt there, this
repository's governance rehearsed on them, and its hidden tests grade the result.

What a manifest case is, and its grade, are the subject: the checks its validation waits for
(the journeys, the sealed validator, the tests on the candidate) are stood in for by records
saying they passed (``tests/checks_passed.py``), as a history's cases are validated for real
in ``test_backtest``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.paths import workflows_dir
from harness.sandbox.bwrap import CommandResult, Sandbox
from tests.backtest.conftest import COUNT_CODE, COUNT_TEST, TITLE_1, history
from tests.checks_passed import CHECKS_PASSED
from tests.cli_helpers import run_cli, use_actions
from tests.factory_repo import git

pytestmark = [pytest.mark.timeout(600)]


@pytest.fixture(autouse=True)
def _checks_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    use_actions(monkeypatch, *CHECKS_PASSED)


ALREADY_TRUE = """
    def test_render_keeps_the_text(self):
        self.assertIn("milk", render(["milk"]))
"""


def suite(path: Path, test: str = ALREADY_TRUE) -> tuple[str, str]:
    """Another repository (the notes app alone, no governance) and one fix in it whose test
    passes on the fix's parent too (it shows nothing), or ``test``."""
    shutil.copytree(workflows_dir() / "demo" / "app", path)
    git(path, "init", "-q", "-b", "trunk")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "notes")
    base = git(path, "rev-parse", "HEAD").strip()
    app, tests = path / "app.py", path / "test_app.py"
    app.write_text(app.read_text().replace(*COUNT_CODE))
    tests.write_text(tests.read_text().replace("\n\nif __name__", f"{test}\n\nif __name__"))
    git(path, "commit", "-qam", "count the notes, with a test that proves nothing")
    return base, git(path, "rev-parse", "HEAD").strip()


def test_a_manifest_case_from_another_local_repository(tmp_path: Path, capsys, standin) -> None:
    """One case: its fix counts the notes, and its test passes on the fix's parent as well, so
    the grade is no evidence either way (unproven). That a manifest case's grade resolves it
    when its hidden test fails on the parent is the history's case of the same fix in
    ``test_backtest`` (grading and the row do not depend on where a case came from)."""
    repo = history(tmp_path, capsys, journeys=False)
    base, fix = suite(tmp_path / "suites" / "notes")
    manifest = tmp_path / "suites" / "cases.yaml"
    body = "Under the heading, show 'N notes'."
    case = {"id": "count", "title": TITLE_1, "body": body, "base": base, "fix": fix}
    manifest.write_text(
        json.dumps({"repo": "notes", "cases": [{**case, "tests": ["test_app.py"]}]})
    )

    res = run_cli(capsys, "--repo", str(repo), "backtest", "--manifest", str(manifest), "--json")
    assert res.code == 0, res.err
    out = res.json()  # stdout is the JSON alone; where the rehearsal is goes to stderr
    said = [line.strip() for line in res.err.splitlines() if "case count:" in line]
    assert said == [
        *(f"case count: {stage} …" for stage in ("triage", "implement", "validate")),
        "case count: grading with the hidden tests …",
        "case count: done",
    ], res.err
    assert res.err.startswith("1 case(s) to rehearse, 2 at a time …")
    (row,) = out["cases"]
    assert out["source"] == f"manifest {manifest}"
    assert (row["id"], row["issue"], row["base"], row["fix"]) == ("count", None, base, fix)
    assert (row["triage"], row["route"]) == ("accept", "merge")
    # the fix's test passes on the parent too: its grade is no evidence either way
    assert row["hidden_tests"] == ["test_app.py"] and row["graded"]["exit_code"] == 0
    assert row["resolved"] is None
    assert row["graded"]["fails_before"] is False and "prove nothing" in row["reason"]
    summary = out["summary"]
    assert (summary["resolved"], summary["false_merges"], summary["unproven"]) == (0, 0, 1)

    # the scratch repository held the fix's parent and this repository's governance, never
    # the fix: its objects are not there for any agent to find
    (scratch,) = (tmp_path / "state" / "backtest" / out["backtest"]).glob("count-????????/repo.git")
    missing = subprocess.run(["git", "cat-file", "-e", fix], cwd=scratch, capture_output=True)
    assert missing.returncode != 0
    assert git(scratch, "cat-file", "-e", base) == ""
    shown = git(scratch, "show", "main:factory_rules.md")
    assert shown == (repo / "factory_rules.md").read_text()


def test_a_case_whose_grade_never_finishes_is_unknown_not_unresolved(
    tmp_path: Path, capsys, standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The graded head's suite stopped by its time limit twice (a real ``sleep`` past a
    one-second limit in the real sandbox): no evidence either way."""
    real = Sandbox.run

    def run(self: Sandbox, command: str, *, timeout_s: float | None = None) -> CommandResult:
        if self.worktree.name == "detached--graded":  # the grade of the implemented head
            return real(self, "sleep 30", timeout_s=1)
        return real(self, command, timeout_s=timeout_s)

    monkeypatch.setattr(Sandbox, "run", run)
    repo = history(tmp_path, capsys, journeys=False)
    base, fix = suite(tmp_path / "suites" / "notes", COUNT_TEST)  # it fails on the parent
    manifest = tmp_path / "suites" / "cases.yaml"
    case = {"id": "count", "title": TITLE_1, "body": "Show 'N notes'.", "base": base, "fix": fix}
    manifest.write_text(json.dumps({"repo": "notes", "cases": [case]}))
    res = run_cli(capsys, "--repo", str(repo), "backtest", "--manifest", str(manifest), "--json")
    assert res.code == 0, res.err
    (row,) = res.json()["cases"]
    assert (row["resolved"], row["inconclusive"]) == (None, True)
    assert "time limit" in row["graded"]["problem"] and "no evidence" in row["reason"]
    summary = res.json()["summary"]
    assert (summary["resolved"], summary["unproven"], summary["inconclusive"]) == (0, 0, 1)
