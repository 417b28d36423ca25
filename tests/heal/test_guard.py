"""What heal never does: blame a change for a flaky check — one that passes again on the
same tree, even one the factory merged —, or go on fixing a line of fixes that keeps
regressing (the SafetyGuard), through ``factory health`` (docs/heal.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from harness.artifacts import Blame
from harness.store.db import Store
from tests.cli_helpers import repo_cli
from tests.factory_repo import git
from tests.heal.conftest import land, seed_chain

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

FLAKY = (  # fails on the runs it names: each run's number is what the test reads (``seeded``)
    "import pathlib\nimport unittest\n\n\nclass Flaky(unittest.TestCase):\n"
    "    def test_flaky(self):\n"
    "        self.assertFalse({fails})\n"
)
RUN = "int(pathlib.Path('runs.txt').read_text())"
HEALTH_RUNS = 4  # the count (2) reached, then two runs more — as many as reach it again — that
# file nothing again
BROKEN = "import unittest\n\n\nclass Sum(unittest.TestCase):\n    def test_sum(self):\n"
BROKEN += "        self.assertEqual(1 + 1, 3)\n"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-heal-asks-no-model")  # never called


def factory_issues(cli) -> list[dict]:
    return [i for i in cli("issue", "list", "--json").json() if i["author"] == "factory[bot]"]


@pytest.fixture
def seeded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every run of the tests, counted: the copy each runs in holds its number (``runs.txt``),
    so a test fails one run in two by that number, not by chance."""
    from harness.validate import evidence

    runs: list[str] = []
    real = evidence.fresh_copy

    @contextmanager
    def counted(settings, prepared: Path, name: str) -> Iterator[Path]:
        with real(settings, prepared, name) as path:
            if name.endswith("-tests"):
                runs.append(name)
                (path / "runs.txt").write_text(str(len(runs)))
            yield path

    monkeypatch.setattr(evidence, "fresh_copy", counted)
    return runs


def test_a_test_that_fails_one_run_in_two_is_flaky_then_one_issue_after_the_count(
    tmp_path: Path, capsys, tests_app, seeded
) -> None:
    repo, _ = tests_app
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["health"] = {"flaky_issue_after": 2}
    (repo / "factory.yaml").write_text(yaml.safe_dump(config))
    git(repo, "commit", "-qam", "flakes counted for a person after two")
    flaky = {"test_flaky.py": FLAKY.format(fails=f"{RUN} % 2")}  # the factory merged it
    land(repo, tmp_path / "state", "Test the list", flaky)
    production = git(repo, "rev-parse", "main")
    cli = repo_cli(capsys, repo)

    for run in range(1, HEALTH_RUNS + 1):
        res = cli("health", "--json")
        assert res.code == 0, res.err  # a flake is not a red production
        assert res.json()["outcome"] == "flaky"
        assert len(factory_issues(cli)) == (run >= 2)  # one, after the count
    assert len(seeded) == 2 * HEALTH_RUNS  # each health run's suite, then the same again
    (listed,) = cli("flaky", "--json").json()
    assert listed["check"] == "test:test_flaky.Flaky.test_flaky"
    assert listed["flakes"] == HEALTH_RUNS
    (filed,) = factory_issues(cli)
    assert "factory:needs-human" in filed["labels"] and listed["check"] in filed["body"]
    assert git(repo, "rev-parse", "main") == production  # nothing reverted
    store = Store.open(tmp_path / "state")
    heals = store.list_runs(limit=None, workflow="heal")
    assert all(not any(s.artifact == Blame.__name__ for s in store.steps(r.id)) for r in heals)
    runs = cli("runs", "--json").json()
    assert [r["outcome"] for r in runs if r["workflow"] == "heal"] == ["flaky"] * HEALTH_RUNS


def test_a_fix_that_regresses_again_three_times_stops_at_needs_human(
    tmp_path: Path, capsys, tests_app
) -> None:
    repo, _ = tests_app
    state = tmp_path / "state"
    cli = repo_cli(capsys, repo)
    first = [
        cli("issue", "new", "--title", f"T{n}", "--body", "b", "--json").json() for n in (1, 2, 3)
    ]
    fix, merged = land(repo, state, "Fix the third regression", {"test_sum.py": BROKEN})
    seed_chain(state, [*(i["number"] for i in first), fix], merged)

    res = cli("health", "--json")
    assert res.code == 1
    said = res.json()
    assert said["outcome"] == "needs_human" and "reverting" not in said
    assert git(repo, "rev-parse", "main").strip() == merged  # nothing reverted
    person = cli("issue", "show", said["tracking"], "--json").json()
    assert {"factory:needs-human", "factory:regression"} <= set(person["labels"])
    assert "attempt 4 of 3" in person["body"] and f"#{fix}" in person["body"]
    store = Store.open(state)
    assert store.list_runs(limit=None, workflow="revert") == []


def test_a_check_heal_found_flaky_is_not_what_the_bisect_follows(capsys, tests_app, seeded) -> None:
    """Production red for a real reason (a maintainer's commit breaks a test) while a check
    heal recorded flaky fails too, on the commit known green as well: the bisect follows the
    real failure alone and blames that commit, for a person; the flake is counted again,
    never the verdict, and production is not called green."""
    repo, _ = tests_app
    (repo / "test_flaky.py").write_text(FLAKY.format(fails=f"{RUN} in (2, 4, 5, 6, 7)"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a test that fails on some runs")
    cli = repo_cli(capsys, repo)
    assert cli("health", "--json").json()["green"]  # run 1
    (repo / "NOTES.txt").write_text("Kept by us.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a maintainer's note")
    noted = git(repo, "rev-parse", "main").strip()
    assert cli("health", "--json").json()["outcome"] == "flaky"  # runs 2 and 3: recorded
    (repo / "test_sum.py").write_text(BROKEN)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a maintainer's broken test")
    broken = git(repo, "rev-parse", "main").strip()

    red = cli("health", "--json")
    said = red.json()
    assert red.code == 1 and said["outcome"] == "needs_human", red.out
    person = cli("issue", "show", said["tracking"], "--json").json()
    assert broken[:12] in person["title"] and noted[:12] not in person["title"]
    (listed,) = cli("flaky", "--json").json()
    assert (listed["check"], listed["flakes"]) == ("test:test_flaky.Flaky.test_flaky", 2)
