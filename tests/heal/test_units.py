"""Heal's parts that need no app: test ids from a runner's output, the bisect's bound, the
issues it files once."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.artifacts import RevertedChange
from harness.config.testfiles import failing_tests
from harness.forge.base import Label, file_once, set_state
from harness.forge.local import LocalForge
from harness.git.repo import GitRepo
from harness.heal.actions import _NotJudged, first_failing
from harness.heal.checks import public
from harness.heal.production import production_health
from harness.implement.spec import change_block
from harness.kinds import regression_key
from harness.services import open_services
from harness.store.db import Store
from tests.factory_repo import make_factory_repo
from tests.heal.conftest import seed_chain

UNITTEST = """\
======================================================================
FAIL: test_add (test_app.NotesTest.test_add)
----------------------------------------------------------------------
ERROR: test_old (test_app.Old)
"""
PYTEST = "FAILED tests/test_x.py::test_y - AssertionError: 1\nERROR tests/test_z.py::T::t\n"
PYTEST += "FAILED t.py::test_login[a-test-Incorrect username.] - assert 'x' == 'y'\n"
PYTEST += "FAILED t.py::test_login[b - c]\nERROR t.py - ImportError: no module\n"
JEST = "  ● Notes › adds a note\n"


def test_the_failing_tests_are_read_by_id_from_each_runner() -> None:
    assert failing_tests(UNITTEST) == ["test_app.NotesTest.test_add", "test_app.Old.test_old"]
    assert failing_tests(PYTEST) == [
        "t.py::test_login[a-test-Incorrect username.]",
        "t.py::test_login[b - c]",
        "tests/test_x.py::test_y",
        "tests/test_z.py::T::t",
    ]
    assert failing_tests(JEST) == ["Notes › adds a note"]
    assert failing_tests("Ran 3 tests\nOK\n") == []
    assert public("journey:HOLDOUT.yaml") == public("journey:HOLDOUT.yaml")
    assert "HOLDOUT" not in public("journey:HOLDOUT.yaml")
    assert public("test:t.py::test_a[x y]") == "test:t.py::test_a[x y]"


@pytest.mark.parametrize("size", [2, 3, 4, 9, 17, 64])
def test_the_bisect_names_the_culprit_within_its_bound(size: int) -> None:
    """Position 0 is red; every position from the culprit to 0 fails. From a green end
    known at ``size - 1``: at most ⌈log2 N⌉ + 1 probes; from none, the culprit still."""
    green = size - 1
    for culprit in range(green):
        probed: list[int] = []

        def fails(at: int, culprit: int = culprit) -> bool:
            probed.append(at)
            return at <= culprit

        assert first_failing(fails, size, green) == (culprit, culprit + 1)
        assert len(probed) <= math.ceil(math.log2(green)) + 1
        probed.clear()
        assert first_failing(fails, size + 5, None)[0] == culprit
        assert len(probed) <= 2 * math.ceil(math.log2(culprit + 2)) + 1
    with pytest.raises(_NotJudged):  # fails as far back as there is history: not reproducible
        first_failing(lambda at: True, size, green)
    with pytest.raises(_NotJudged):
        first_failing(lambda at: True, size, None)


@pytest.mark.parametrize("size", [3, 4, 9, 17, 64])
def test_a_green_end_that_fails_now_is_looked_past_to_the_commit_that_planted_it(
    size: int,
) -> None:
    """A check that went off after its green record fails on the green end too: the bisect
    goes on behind it (2g, 4g …) and names the commit that planted it, never the green end
    nor a flake; the green end is probed once."""
    known = 1
    for culprit in range(known, size - 1):
        probed: list[int] = []

        def fails(at: int, culprit: int = culprit) -> bool:
            probed.append(at)
            return at <= culprit

        assert first_failing(fails, size, known) == (culprit, culprit + 1)
        assert probed.count(known) == 1
        assert len(probed) <= 1 + 2 * math.ceil(math.log2(culprit + 2)) + 1


def test_the_factorys_issue_is_filed_once_and_found_by_its_signed_block(
    tmp_path: Path, empty_repo: Path
) -> None:
    store = Store.open(tmp_path / "state")
    forge = LocalForge(store, GitRepo(empty_repo))
    issue = file_once(forge, "heal:flaky:test:a", "Flaky", "body", "factory:needs-human")
    assert issue.author == forge.bot_login
    assert forge.get_issue(issue.number).labels == ("factory:needs-human",)
    forge.create_issue("copied", issue.body, "mallory")  # the block, in someone else's issue
    forge.set_issue_state(issue.number, "closed")
    again = file_once(forge, "heal:flaky:test:a", "Flaky", "body", reopen=False)
    assert again.number == issue.number and again.state == "closed"  # closed, still the one
    other = file_once(forge, "heal:flaky:test:b", "Flaky", "body")
    assert other.number not in (issue.number, issue.number + 1)
    assert len(forge.list_issues("all")) == 3


def test_a_reverted_change_is_closed_as_merged_once_its_regression_fix_lands(
    tmp_path: Path,
) -> None:
    repo = make_factory_repo(tmp_path / "repo")  # no app: production's health has nothing to run
    services = open_services(repo, tmp_path / "state")
    forge = services.forge
    reverted = forge.create_issue("Add a help page", "Please.", "owner").number
    set_state(forge, reverted, Label.IN_PROGRESS, (Label.REGRESSION,))
    regression = forge.create_issue("Regression", "Evidence.", forge.bot_login).number
    seed_chain(tmp_path / "state", [reverted, regression], "0" * 40)
    assert production_health(services).green
    assert forge.get_issue(reverted).state == "open"  # its fix has not landed yet
    set_state(forge, regression, Label.MERGED)
    forge.set_issue_state(regression, "closed")
    for _ in range(2):
        production_health(services)
    back = forge.get_issue(reverted)
    assert back.state == "closed" and Label.MERGED in back.labels
    said = [c for c in forge.list_comments(reverted) if f"#{regression}" in c.body]
    assert len(said) == 1


def test_a_reverted_change_whose_regression_issue_failed_goes_to_a_person(
    tmp_path: Path,
) -> None:
    """No issue waits in progress for a fix that will not come: its regression issue failed,
    so the reverted change goes to a person, once; a fix landing later still closes it."""
    repo = make_factory_repo(tmp_path / "repo")
    services = open_services(repo, tmp_path / "state")
    forge = services.forge
    reverted = forge.create_issue("Add a help page", "Please.", "owner").number
    set_state(forge, reverted, Label.IN_PROGRESS, (Label.REGRESSION,))
    regression = forge.create_issue("Regression", "Evidence.", forge.bot_login).number
    seed_chain(tmp_path / "state", [reverted, regression], "0" * 40)
    set_state(forge, regression, Label.FAILED)
    for _ in range(2):
        assert production_health(services).green
    waiting = forge.get_issue(reverted)
    assert waiting.state == "open" and Label.NEEDS_HUMAN in waiting.labels
    assert Label.IN_PROGRESS not in waiting.labels
    said = [c for c in forge.list_comments(reverted) if f"#{regression}" in c.body]
    assert len(said) == 1 and "factory:failed" in said[0].body
    set_state(forge, regression, Label.MERGED)  # a person sent it back; its fix landed
    production_health(services)
    assert forge.get_issue(reverted).state == "closed"


def test_a_revert_asked_by_hand_starts_only_while_its_regression_issue_is_the_factorys(
    tmp_path: Path,
) -> None:
    """``factory health --revert SHA`` (GitHub's heal job, or a maintainer) starts the revert of
    SHA as the change of the regression issue heal filed for it: not once a person closed that
    issue or has it, though it still holds its signed change block."""
    repo = make_factory_repo(tmp_path / "repo")  # no app: production is not checked
    services = open_services(repo, tmp_path / "state")
    forge, culprit = services.forge, "1" * 40
    reverted = forge.create_issue("Add a help page", "Please.", "owner").number
    block = RevertedChange(issue=reverted, title="Add a help page", body="Please.", criteria=[],
                           files=["app.py"], diff="")  # fmt: skip
    body = "Evidence.\n\n" + change_block(forge.markers, block)
    regression = file_once(forge, regression_key(culprit), "Regression", body, Label.IN_PROGRESS)

    def reverts() -> int:
        return len(services.store.list_runs(None, "revert"))

    forge.set_issue_state(regression.number, "closed")
    assert production_health(services, culprit).reverting is None and reverts() == 0
    forge.set_issue_state(regression.number, "open")
    set_state(forge, regression.number, Label.NEEDS_HUMAN)
    assert production_health(services, culprit).reverting is None and reverts() == 0
    set_state(forge, regression.number, Label.IN_PROGRESS)  # the factory's again: it starts
    production_health(services, culprit)
    assert reverts() == 1
