"""A newcomer's first hour, through the real CLI: ``init`` on a ``setup.py`` project writes
commands that work in the sandbox, and with ``--provider scripted`` a first issue merges
with nothing edited but ``commands.start``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.cli_helpers import run_cli
from tests.config.newcomer import newcomer_project, wheelhouse
from tests.conftest import git

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

SETUP = "python3 -m venv .venv && .venv/bin/pip install -q -e . -r requirements-dev.txt pytest"


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


def _commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def test_a_setup_py_project_gets_commands_that_pass_in_the_sandbox(
    tmp_path: Path, wheels: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = newcomer_project(tmp_path, wheels)
    res = run_cli(capsys, "--repo", str(repo), "init")
    assert res.code == 0 and "project: Python (setup.py)" in res.out, res.out + res.err
    written = (repo / "factory.yaml").read_text()
    assert yaml.safe_load(written)["commands"]["setup"] == SETUP
    assert '# start: ".venv/bin/python -m notes --port {port}"' in written  # the package's name
    _commit(repo, "factory governance")

    res = run_cli(capsys, "--repo", str(repo), "doctor", "--json")
    checks = {c["name"]: c for c in res.json()["checks"]}
    assert checks["setup"]["passed"], checks["setup"]
    assert checks["test"]["passed"] and "1 passed" in checks["test"]["output"], checks["test"]
    # start is the maintainer's to set: doctor says so, and exits 1
    assert res.code == 1 and "commands.start is not set" in checks["start"]["detail"]


def test_a_first_issue_merges_with_the_scripted_answers_init_writes(
    tmp_path: Path, wheels: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = newcomer_project(tmp_path, wheels)
    res = run_cli(capsys, "--repo", str(repo), "init", "--provider", "scripted")
    assert res.code == 0, res.err
    config = repo / "factory.yaml"
    text, edits = re.subn(r"^  # start: ", "  start: ", config.read_text(), flags=re.M)
    assert edits == 1
    config.write_text(text)  # the one edit: commands.start, as init suggested it
    _commit(repo, "factory governance")
    changed = git(repo, "show", "--stat", "--format=", "HEAD").split("\n")
    assert "scripted.yaml" in "".join(changed)  # committed as init wrote it

    res = run_cli(capsys, "--repo", str(repo), "doctor")
    assert res.code == 0, res.out + res.err
    assert "scripted answers from" in res.out

    title = "Rehearsal: the factory's first change"
    res = run_cli(capsys, "--repo", str(repo), "issue", "new", "--title", title, "--body", "Go.")
    assert res.code == 0, res.err
    res = run_cli(capsys, "--repo", str(repo), "run", "--once", "--json")
    assert res.code == 0, res.out + res.err
    rows = res.json()
    assert [r["decision"] for r in rows["triage"]] == ["accept"], rows
    (validated,) = rows["validate"]
    assert validated["route"] == "merge" and validated["merge_sha"], validated

    issue = run_cli(capsys, "--repo", str(repo), "issue", "show", "1", "--json").json()
    assert issue["state"] == "closed" and "factory:merged" in issue["labels"], issue
    assert "FACTORY_REHEARSAL.md" in git(repo, "ls-tree", "--name-only", "main")
