"""The loop closes by itself, in the configuration a careful maintainer runs — a second
reviewer, escalation — and with an outsider who filed the factory's next regression title
first (docs/heal.md, "The loop closes"): a merge breaks a hidden journey; heal reverts it with
no person (a revert is reviewed by no one: no one wrote it) and files a regression issue that
carries the reverted change; that issue passes the factory's own pre-screen (never a
duplicate of the outsider's), is triaged, planned from the change it brings back,
implemented, validated and merged like any issue; then both issues are closed — in at most
three ``factory run --once`` cycles. No "no review" is left to learn from.

The revert's own validation (the first cycle's) stands in for the checks it waits for by
records saying they passed (``tests/checks_passed.py``): ``test_revert.py`` validates a revert
for real. The fix's validation (but for the sealed validator's verdict, which stands in as
passed: nothing here reads it, ``tests/validate`` runs it; and the learned checks it teaches
fail their tries as in a browser: ``taught_checks_fail``), the health checks and the bisect
run for real, on a hold-out of the one journey the merge broke (``test_revert.py``'s keeps
the notes' journey beside it, and reads that only the broken one is diagnosed and
bisected). The security gate's analysers stand in as having found nothing in the fix
(``analysers_find_nothing``): the loop is not about that gate.

One scenario for the module (``loop``): the merge that breaks the journey also fails a test
the factory merged earlier, whose assertion message is the whole page; each test reads one
property of what the loop left."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from harness.artifacts import GateReport
from harness.engine.records import RunRecords
from harness.store.db import Store
from tests.checks_passed import (
    CHECKS_PASSED,
    analysers_find_nothing,
    taught_checks_fail,
    verdicts_pass,
)
from tests.cli_helpers import run_cli, use_actions
from tests.factory_repo import git
from tests.heal.conftest import HEADING, land, three_merges
from tests.validate.conftest import (
    HOLDOUT_CANARY,
    Output,
    accept_rule,
    isolated_env,
    issue,
    landed_tested_trees,
    make_app,
    role_of,
    run_once,
    serve,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

REGRESSION = "Regression since"
HEADING_LINE = '        "<h1>Notes</h1>"\n'
FIX = [
    {
        "tool": "edit_file",
        "input": {
            "path": "app.py",
            "old_text": HEADING_LINE,
            "new_text": '        "<h1>Notes</h1><p>Jottings</p>"\n',
        },
    },
    {
        "tool": "edit_file",
        "input": {
            "path": "test_app.py",
            "old_text": "    def test_add_note(self):",
            "new_text": "    def test_jottings_under_the_heading(self):\n"
            '        self.assertIn("<h1>Notes</h1><p>Jottings</p>", render([]))\n\n'
            "    def test_add_note(self):",
        },
    },
]
FIRST = "I saw it first"  # the outsider's words
RULES = [
    {
        "output": "submit_triage",
        "match": FIRST,
        "turns": [
            [
                {
                    "tool": "submit_triage",
                    "input": {
                        "decision": "reject",
                        "priority": "p3",
                        "kind": "bug",
                        "rule": "mission.md: Capabilities",
                        "reason": "Nothing to do: a copy of the factory's own report.",
                        "acceptance_criteria": [],
                    },
                }
            ]
        ],
    },
    accept_rule(REGRESSION, "Bring the new name back without breaking the page.", kind="bug"),
    {
        "output": "finish",
        "match": REGRESSION,
        "turns": [FIX, [{"tool": "finish", "input": {"summary": "Jottings, under Notes."}}]],
    },
]


HEADING_TEST = """import unittest

from app import render


class HeadingTest(unittest.TestCase):
    def test_the_page_is_headed_notes(self):
        self.assertIn("<h1>Notes</h1>", render([]))
"""


@dataclass(frozen=True)
class Loop:
    """What the loop left: the world, the merges, the issues, the model's requests."""

    repo: Path
    state: Path
    culprit_issue: int
    title: str  # the outsider's, and the regression issue's
    regression: int
    outsider: int
    received: list[dict]  # every request the model's stand-in answered


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Loop:
    """A test the factory merged (``HEADING_TEST``: its assertion message the whole page,
    ``<!doctype html>…``), then three merges, the second renaming the heading, which both
    that test and the maintainer's new journey (the hold-out's only one) see; an outsider
    files the factory's next regression title first; then ``factory run --once`` cycles."""
    root = tmp_path_factory.mktemp("loop")
    state = root / "state"
    repo, holdout = make_app(root)
    with isolated_env(state) as mp, Output() as out:
        for model in serve(root, mp, RULES):
            verdicts_pass(mp)
            taught_checks_fail(mp)
            analysers_find_nothing(mp)
            config = yaml.safe_load((repo / "factory.yaml").read_text())
            config["review"] = {"second": {"model": "claude-sonnet-5", "lens": "security"}}
            config["models"] = {
                "escalate": {"implementer": ["claude-sonnet-5-5", "claude-opus-5-5"]}
            }
            (repo / "factory.yaml").write_text(yaml.safe_dump(config))
            git(repo, "commit", "-qam", "a second reviewer; escalation")
            land(repo, state, "Check the heading", {"test_heading.py": HEADING_TEST})
            _, (culprit_issue, merge), _ = three_merges(repo, state)
            # the maintainer's new journey, the hold-out's only one (the loop is not about the
            # notes' journey, which every health run, check and smoke run would run beside
            # it), its name carrying the hold-out's canary
            (holdout / "journeys" / "add_note.yaml").unlink()
            named = HEADING.replace("name: the heading", f"name: the heading {HOLDOUT_CANARY}")
            (holdout / "journeys" / "heading.yaml").write_text(named)
            title = f"Regression since {merge[:12]} (#{culprit_issue})"  # the sha is public
            new = ("issue", "new", "--title", title, "--body", f"{FIRST}.", "--author", "mallory")
            outsider = run_cli(out, "--repo", str(repo), *new, "--json").json()["number"]
            with pytest.MonkeyPatch.context() as checks_passed:  # as test_revert.py lands one
                use_actions(checks_passed, *CHECKS_PASSED)
                regression = run_once(out, repo)["production"]["reverting"]
            for _ in range(2):
                run_once(out, repo)
                if issue(out, repo, culprit_issue)["state"] == "closed":
                    break
            received = [body for _, body in model.received]
    landed_tested_trees(state)
    return Loop(repo, state, culprit_issue, title, regression, outsider, received)


@pytest.fixture
def at(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> Loop:
    """The loop, with this test's commands reading its state folder."""
    monkeypatch.setenv("FACTORY_STATE_DIR", str(loop.state))
    return loop


def test_a_broken_journey_is_reverted_fixed_and_both_issues_closed_by_themselves(
    capsys, at: Loop
) -> None:
    repo, regression = at.repo, at.regression
    fixed, culprit = issue(capsys, repo, regression), issue(capsys, repo, at.culprit_issue)
    assert fixed["title"] == at.title and regression != at.outsider
    assert "Call the notes Jottings: done, and every note still listed." in fixed["body"]
    assert "`app.py`" in fixed["body"]
    copied = issue(capsys, repo, at.outsider)  # triaged as what it is: the agent rejected it
    assert "factory:rejected" in copied["labels"] and "duplicates" not in str(copied)
    assert fixed["state"] == "closed" and "factory:merged" in fixed["labels"], fixed
    assert culprit["state"] == "closed" and "factory:merged" in culprit["labels"], culprit
    assert "factory:in-progress" not in culprit["labels"]
    backs = [c["body"] for c in culprit["comments"] if "Back on production" in c["body"]]
    assert len(backs) == 1 and f"#{regression}" in backs[0]
    triaged = [c["body"] for c in fixed["comments"] if "Accepted" in c["body"]]
    assert triaged, fixed["comments"]  # the triage agent judged it: no person held it
    page = git(repo, "show", "main:app.py")
    assert "<h1>Notes</h1><p>Jottings</p>" in page
    store = Store.open(at.state)
    assert store.events(kind="human.") == []  # no person
    (revert,) = store.list_runs(limit=None, workflow="revert")
    gates = [g.name for g in RunRecords(store.steps(revert.id)).newest(GateReport).gates]
    assert "reviews_agree" not in gates and "tests_green" in gates  # nobody wrote it
    planned = [json.dumps(b) for b in at.received if role_of(b) == "planner"]
    assert planned and all("reverted_diff" in p for p in planned)  # the change it brings back
    assert all('-        \\"<h1>Notes</h1>\\"' in p for p in planned), planned[0][-3000:]
    lessons = run_cli(capsys, "--repo", str(repo), "lessons", "--json").json()
    assert not any("reviews_agree" in x["about"] for x in lessons)
    for said in [fixed["body"], *(c["body"] for c in fixed["comments"] + culprit["comments"])]:
        assert HOLDOUT_CANARY not in said and "the heading" not in said


def test_a_failing_test_that_prints_a_page_closes_its_loop_with_no_person(capsys, at: Loop) -> None:
    """The test the factory merged fails once the later merge renames the heading, its
    assertion message the whole page (``<!doctype html>…``): the regression issue heal files,
    quoting the output, is triaged by the agent (its quote is a quote, not hidden markup),
    implemented and merged, with no person."""
    quoted = issue(capsys, at.repo, at.regression)
    assert "<!doctype html>" in quoted["body"], quoted["body"]  # the page, quoted
    assert "test_the_page_is_headed_notes" in quoted["body"]
    assert quoted["state"] == "closed" and "factory:merged" in quoted["labels"], quoted
    assert any("Accepted" in c["body"] for c in quoted["comments"]), quoted["comments"]
    assert Store.open(at.state).events(kind="human.") == []  # no person
