"""Heal judges a test where the whole suite runs it, by the id its runner prints
(docs/heal.md, "Diagnose"): a merged test that fails only in the suite, and exits 127 when
run alone, is blamed on its merge and reverted — the revert named for what it is; a
maintainer's commit that breaks a parametrised pytest test whose id holds spaces is blamed
on that commit."""

from __future__ import annotations

import shutil
from pathlib import Path

import _pytest
import iniconfig
import packaging
import pluggy
import pygments
import pytest
import yaml

from harness.artifacts import Blame, Diagnosis, Validation
from harness.engine.records import RunRecords
from harness.store.db import Store
from tests.cli_helpers import repo_cli
from tests.factory_repo import git, write_files
from tests.heal.conftest import land

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

BOMB = """import os
import sys
import unittest


class Bomb(unittest.TestCase):
    def test_bomb(self):
        if "test_bomb" in " ".join(sys.argv):  # named alone: the tests' tool seems gone
            os._exit(127)
        self.fail("fails where the whole suite runs")
"""
LOGIN = """import pytest

from app import login_error


@pytest.mark.parametrize(
    ("user", "password", "message"),
    [("a", "test", "Incorrect username."), ("admin", "", "Missing password.")],
)
def test_login_validate_input(user, password, message):
    assert login_error(user, password) == message
"""
CHECKED = """

def login_error(user, password):
    if not password:
        return "Missing password."
    return "" if user == "admin" else "Incorrect username."
"""
PARAMETRISED = "tests/test_login.py::test_login_validate_input[a-test-Incorrect username.]"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-heal-asks-no-model")  # never called


def test_a_merged_test_that_fails_only_in_the_suite_is_reverted_as_its_merges(
    tmp_path: Path, capsys, tests_app
) -> None:
    repo, _ = tests_app
    state = tmp_path / "state"
    land(repo, state, "Add a help page", {"help.txt": "Write a note, press Add.\n"})
    number, culprit = land(repo, state, "Check the sum", {"test_bomb.py": BOMB})
    land(repo, state, "Add a changelog", {"CHANGES.txt": "- help page\n"})
    cli = repo_cli(capsys, repo)

    healed = cli("health", "--json")
    said = healed.json()
    assert said["outcome"] == "reverted" and said["revert_landed"], healed.out  # not stopped
    store = Store.open(state)
    (heal,) = store.list_runs(limit=None, workflow="heal")
    records = RunRecords(store.steps(heal.id))
    diagnosed, blame = records.newest(Diagnosis), records.newest(Blame)
    assert diagnosed is not None and diagnosed.verdict == "regression"
    assert diagnosed.checks == ["test:test_bomb.Bomb.test_bomb"] and diagnosed.flaky == []
    assert blame is not None and (blame.culprit, blame.issue) == (culprit, number)
    assert not (repo / "test_bomb.py").exists() and (repo / "CHANGES.txt").is_file()

    regression = said["reverting"]
    (decided,) = [v for _, v in store.artifacts(Validation, regression) if v.route == "merge"]
    kept = next(g for g in decided.gates if g.name == "tests_kept")
    assert kept.passed and "test_bomb.py::Bomb::test_bomb" in kept.evidence
    assert "revert" in kept.evidence
    merged = [c["body"] for c in cli("issue", "show", str(regression), "--json").json()["comments"]]
    (comment,) = [c for c in merged if "**Validation: passed" in c]
    assert "min_score" not in comment and "validator score" not in comment, comment
    assert "no validator" in comment
    assert cli("health", "--json").json()["green"]


# what pytest's terminal writer imports of pygments, beside each of these folders' own
# ``__init__.py`` and ``_mapping.py``: the rest (its other lexers, styles and formatters, nine
# tenths of its size) would be written and copied with every checkout the bisect makes
PYGMENTS_USED = {"lexers": {"python.py", "diff.py"}, "formatters": {"terminal.py"}, "styles": set()}


def _unused(folder: str, names: list[str]) -> set[str]:
    """What of ``folder`` is not copied: its byte code, and in pygments' folders above the
    modules pytest does not import."""
    dropped = {"__pycache__"} & set(names)
    used = PYGMENTS_USED.get(Path(folder).name)
    if used is not None and Path(folder).parent.name == "pygments":
        kept = used | {"__init__.py", "_mapping.py"}
        dropped |= {n for n in names if n.endswith(".py") and n not in kept}
    return dropped


def _vendored_pytest(repo: Path) -> None:
    """pytest and what it needs, beside the app: the sandbox holds no pytest of its own."""
    for package in (pytest, _pytest, pluggy, iniconfig, packaging, pygments):
        folder = Path(str(package.__file__)).parent
        shutil.copytree(folder, repo / folder.name, ignore=_unused)
    shutil.copy(Path(_pytest.__file__).parent.parent / "py.py", repo)


def test_a_maintainers_commit_breaking_a_parametrised_test_is_blamed_on_that_commit(
    tmp_path: Path, capsys, tests_app
) -> None:
    repo, _ = tests_app
    _vendored_pytest(repo)
    (repo / "app.py").write_text((repo / "app.py").read_text() + CHECKED)
    write_files(repo, {"tests/test_login.py": LOGIN})
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["commands"]["test"] = "python3 -m pytest -q -p no:cacheprovider tests"
    (repo / "factory.yaml").write_text(yaml.safe_dump(config))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the login check, tested with pytest")
    (repo / "README.md").write_text("Notes, and a login check.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a readme")
    page = (repo / "app.py").read_text()
    (repo / "app.py").write_text(page.replace('"Incorrect username."', '"Unknown user."'))
    git(repo, "commit", "-qam", "say unknown user")
    culprit = git(repo, "rev-parse", "HEAD").strip()
    (repo / "CHANGES.txt").write_text("- a login check\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a changelog")
    cli = repo_cli(capsys, repo)

    said = cli("health", "--json").json()
    assert said["outcome"] == "needs_human" and "reverting" not in said
    store = Store.open(tmp_path / "state")
    (heal,) = store.list_runs(limit=None, workflow="heal")
    records = RunRecords(store.steps(heal.id))
    diagnosed, blame = records.newest(Diagnosis), records.newest(Blame)
    assert diagnosed is not None and diagnosed.checks == [f"test:{PARAMETRISED}"]
    assert blame is not None and (blame.culprit, blame.culprit_kind) == (culprit, "maintainer")
    person = cli("issue", "show", said["tracking"], "--json").json()
    assert culprit[:12] in person["body"] and PARAMETRISED in person["body"]
    assert store.list_runs(limit=None, workflow="revert") == []
