"""A manifest names cases from another repository: its commits are rebuilt there, this
repository's governance rehearsed on them, and its hidden tests grade the result."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.paths import workflows_dir
from tests.backtest.conftest import COUNT_CODE, COUNT_TEST, TITLE_1, history
from tests.cli_helpers import run_cli
from tests.factory_repo import git

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


ALREADY_TRUE = """
    def test_render_keeps_the_text(self):
        self.assertIn("milk", render(["milk"]))
"""


def suite(path: Path) -> tuple[str, str, str]:
    """Another repository (the notes app alone, no governance), one fix in it, and another
    fix of the same parent whose test passes on the parent too (it shows nothing)."""
    shutil.copytree(workflows_dir() / "demo" / "app", path)
    git(path, "init", "-q", "-b", "trunk")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "notes")
    base = git(path, "rev-parse", "HEAD").strip()
    app, tests = path / "app.py", path / "test_app.py"
    app.write_text(app.read_text().replace(*COUNT_CODE))
    tests.write_text(tests.read_text().replace("\n\nif __name__", f"{COUNT_TEST}\n\nif __name__"))
    git(path, "commit", "-qam", "count the notes")
    fix = git(path, "rev-parse", "HEAD").strip()
    git(path, "checkout", "-q", "-b", "untested", base)
    app.write_text(app.read_text().replace(*COUNT_CODE))
    tests.write_text(tests.read_text().replace("\n\nif __name__", f"{ALREADY_TRUE}\n\nif __name__"))
    git(path, "commit", "-qam", "count the notes, with a test that proves nothing")
    return base, fix, git(path, "rev-parse", "HEAD").strip()


def test_a_manifest_case_from_another_local_repository(tmp_path: Path, capsys, standin) -> None:
    repo = history(tmp_path, capsys)
    base, fix, untested = suite(tmp_path / "suites" / "notes")
    manifest = tmp_path / "suites" / "cases.yaml"
    body = "Under the heading, show 'N notes'."
    case = {"id": "count", "title": TITLE_1, "body": body, "base": base, "fix": fix}
    unproven = {**case, "id": "count-untested", "fix": untested}
    manifest.write_text(
        json.dumps({"repo": "notes", "cases": [{**case, "tests": ["test_app.py"]}, unproven]})
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
    assert res.err.startswith("2 case(s) to rehearse, 2 at a time …")
    row, other = out["cases"]
    assert out["source"] == f"manifest {manifest}"
    assert (row["id"], row["issue"], row["base"], row["fix"]) == ("count", None, base, fix)
    assert (row["triage"], row["route"], row["resolved"]) == ("accept", "merge", True)
    assert row["graded"]["fails_before"] is True  # the hidden test fails on the parent
    # the other fix's test passes on the parent too: its grade is no evidence either way
    assert other["hidden_tests"] == ["test_app.py"] and other["graded"]["exit_code"] == 0
    assert (other["route"], other["resolved"]) == ("merge", None)
    assert other["graded"]["fails_before"] is False and "prove nothing" in other["reason"]
    summary = out["summary"]
    assert (summary["resolved"], summary["false_merges"], summary["unproven"]) == (1, 0, 1)

    # the scratch repository held the fix's parent and this repository's governance, never
    # the fix: its objects are not there for any agent to find
    (scratch,) = (tmp_path / "state" / "backtest" / out["backtest"]).glob("count-????????/repo.git")
    missing = subprocess.run(["git", "cat-file", "-e", fix], cwd=scratch, capture_output=True)
    assert missing.returncode != 0
    assert git(scratch, "cat-file", "-e", base) == ""
    shown = git(scratch, "show", "main:factory_rules.md")
    assert shown == (repo / "factory_rules.md").read_text()
