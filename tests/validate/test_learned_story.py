"""What a validator verified stays verified (docs/how-it-works.md, "Learned checks"), on the
demo app with the scripted model through the real SDK, the stand-in and the seal: issue A
adds an Export button and merges, and its validator's quoted pass becomes a learned check;
issue B, asking for a count of notes, also renames the button: its validator is told the
check no longer holds, calls it a regression, and B is sent back naming the check; B is
cancelled; issue C asks to rename the button, its validator calls the failing check
intended, citing its criterion, and C merges, retiring A's check, which its pull request
says. What the check does never reaches triage, the planner, the implementer or the
reviewer. The hold-out's journey, which none of the changes breaks, stands in as passed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.git.repo import GitRepo
from harness.implement.feedback import previous_attempt
from harness.store.db import Store
from tests.checks_passed import analysers_find_nothing
from tests.cli_helpers import run_cli
from tests.store_reads import pull_requests
from tests.validate.conftest import (
    Output,
    isolated_env,
    issue,
    journeys_pass,
    make_app,
    role_of,
    run_once,
    serve,
)
from tests.validate.scenarios import decisions

# one scenario, read by every test: one worker plays it
pytestmark = [pytest.mark.browser, pytest.mark.timeout(900), pytest.mark.together("story")]

CANARY = "LEARNED-CANARY-7c2d91"  # a note A's validator typed: in its learned check alone
LIST = "        f'<ul id=\"notes\">{items}</ul>'\n"
EXPORT = "        '<button type=\"button\">Export</button>'\n"
ISSUES = [
    ("Add an Export button", "Put an Export button on the notes page."),
    ("Show how many notes there are", "Show 'N notes' under the heading."),
    ("Rename the Export button to Download", "Download says what it does."),
]


def _accept(title: str, criterion: str) -> dict[str, Any]:
    said = {"decision": "accept", "priority": "p2", "kind": "feature", "rule": "mission.md"}
    said |= {"reason": "Small and checkable.", "acceptance_criteria": [criterion]}
    return {
        "output": "submit_triage",
        "match": title,
        "turns": [[{"tool": "submit_triage", "input": said}]],
    }


def _edits(match: str, *edits: tuple[str, str]) -> dict[str, Any]:
    turn = [
        {"tool": "edit_file", "input": {"path": "app.py", "old_text": a, "new_text": b}}
        for a, b in edits
    ]
    return {
        "output": "finish",
        "match": match,
        "turns": [turn, [{"tool": "finish", "input": {"summary": "Done."}}]],
    }


def _verdict(match: str, looks: list[dict[str, Any]], **verdict: Any) -> dict[str, Any]:
    said = {"verdict": "pass", "score": 0.95, "regressions": [], "summary": "Checked."} | verdict
    return {
        "output": "submit_verdict",
        "match": match,
        "turns": [*([look] for look in looks), [{"tool": "submit_verdict", "input": said}]],
    }


def _pass(criterion: str, seen: int, quote: str) -> dict[str, Any]:
    said = {"criterion": criterion, "result": "pass", "observations": [seen], "quote": quote}
    return said | {"evidence": f"it shows {quote}"}


SNAPSHOT = {"tool": "browser_snapshot", "input": {}}
RULES = [
    _accept("Add an Export button", "The home page has a button named Export."),
    _accept("Rename the Export button", "The Export button on the home page is named Download."),
    _edits("Add an Export button", (LIST, EXPORT + LIST)),
    _edits(
        "how many notes",  # and the button renamed, which the issue does not ask
        (
            '        "<h1>Notes</h1>"\n',
            '        "<h1>Notes</h1>"\n        f\'<p id="count">{len(notes)} notes</p>\'\n',
        ),
        (EXPORT, EXPORT.replace("Export", "Download")),
    ),
    _edits("Rename the Export button", (EXPORT, EXPORT.replace("Export", "Download"))),
    _verdict(
        "Add an Export button",
        [
            {"tool": "browser_type", "input": {"label": "Note", "text": CANARY, "submit": True}},
            SNAPSHOT,
        ],
        criteria=[_pass("C1", 2, 'button "Export"')],
    ),
    _verdict(
        "how many notes",  # told that 1-C1 no longer holds (matched: the issue's words alone)
        [SNAPSHOT],
        criteria=[_pass("C1", 1, "0 notes"), _pass("C2", 1, "0 notes")],
        regressions=[
            {"what": "learned check 1-C1: the Export button is gone", "observations": [1]}
        ],
    ),
    _verdict(
        "Rename the Export button",
        [SNAPSHOT],
        criteria=[_pass("C1", 1, 'button "Download"')],
        intended=[{"check": "1-C1", "criterion": "C1"}],
    ),
]


@dataclass(frozen=True)
class Story:
    repo: Path
    state: Path
    holdout: Path
    after_a: dict[str, Any]  # A's learned check, as kept after A merged
    received: list[dict[str, Any]]  # every request the stand-in answered
    comments: list[str]  # every issue's comments and every pull request's body


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    root = tmp_path_factory.mktemp("story")
    state = root / "state"
    repo, holdout = make_app(root)
    with isolated_env(state) as mp, Output() as out:
        # the hold-out's journey, which no change here breaks, stands in as passed in every
        # check: the learned checks and the sealed validators are what is read
        journeys_pass(mp, learned=False)
        # C's smoke run tries its new check twice as A's did (A's replays, real, are the
        # story's passing ones): what is read of C's is that it was adopted
        journeys_pass(mp, issues=(3,), checks=("smoke",))
        analysers_find_nothing(mp)  # the security gate's: no change here adds a finding
        for server in serve(root, mp, RULES):
            for n, (title, body) in enumerate(ISSUES, start=1):
                new = ("issue", "new", "--title", title, "--body", body, "--author", "owner")
                assert run_cli(out, "--repo", str(repo), *new).code == 0
                run_once(out, repo)
                if n == 1:
                    after_a = yaml.safe_load((holdout / "learned" / "1-C1.yaml").read_text())
                if n == 2:  # sent back; a person stops it there
                    cancel = ("cancel", "2", "--reason", "not now")
                    assert run_cli(out, "--repo", str(repo), *cancel).code == 0
            received = [body for _, body in server.received]
        store = Store.open(state)
        said = [pr.body for n in (1, 2, 3) for pr in pull_requests(store, n)]
        said += [c["body"] for n in (1, 2, 3) for c in issue(out, repo, n)["comments"]]
        store.close()
    return Story(repo, state, holdout, after_a, received, said)


def test_a_merged_quoted_pass_becomes_a_learned_check(story: Story) -> None:
    a = story.after_a
    assert a["state"] == "adopted" and a["quote"] == 'button "Export"'
    assert a["actions"] == [
        ["browser_type", {"label": "Note", "text": CANARY, "submit": True}],
        ["browser_snapshot", {}],
    ]


def _steps(state: Path, number: int, step: str) -> list[dict[str, Any]]:
    """The outputs of step ``step`` in the validations of ``number``, oldest first."""
    store = Store.open(state)
    try:
        runs = reversed(store.list_runs(limit=None, workflow="validate", issue=number))
        return [s.outputs for r in runs for s in store.steps(r.id) if s.step_id == step]
    finally:
        store.close()


def test_a_s_smoke_run_calibrates_the_production_it_made_for_b(story: Story) -> None:
    """A's smoke run passed the hold-out as it then was, A's check adopted: B's calibration of
    that production is it, each check once, the hold-out not run there again (fault put back
    by hand: the smoke calibrating nothing, caught; its replays kept as they ran, caught)."""
    (smoked,) = _steps(story.state, 1, "smoke")
    first = _steps(story.state, 2, "baseline")[0]
    assert first["cached"] and first["sha"] == smoked["sha"]
    names = [j["name"] for j in first["journeys"]]
    assert len(names) == len(set(names)) == 2  # the journey, A's check
    assert len(smoked["journeys"]) == 3  # and A's check's two replays


def test_b_renaming_the_button_unasked_is_sent_back_naming_the_check(story: Story) -> None:
    (decided,) = decisions(story.state, 2)
    assert decided["route"] == "retry"
    assert "learned check 1-C1 no longer holds" in json.dumps(decided["gates"])
    told = [
        json.dumps(b)
        for b in story.received
        if role_of(b) == "validator" and "Check issue 2 " in json.dumps(b)
    ]
    assert told and all("1-C1: earlier verified" in t for t in told)
    # what the next attempt is told names the check by its id, never what it does
    store = Store.open(story.state)
    attempt = previous_attempt(store, GitRepo(story.repo), 2, "next", "")
    assert attempt is not None
    shown = attempt.model_dump_json()
    assert "learned check 1-C1" in shown and CANARY not in shown


def test_c_asking_for_the_rename_merges_and_retires_the_check_on_its_pr(story: Story) -> None:
    assert [d["route"] for d in decisions(story.state, 3)] == ["merge"]
    retired = yaml.safe_load((story.holdout / "learned" / "1-C1.yaml").read_text())
    assert retired["state"] == "retired" and retired["why"].startswith("intended (C1): #3 landed")
    assert any("It retires the learned check 1-C1" in said for said in story.comments)
    learned = yaml.safe_load((story.holdout / "learned" / "3-C1.yaml").read_text())
    assert learned["state"] == "adopted" and learned["quote"] == 'button "Download"'
    assert "Download" in GitRepo(story.repo).read_blob("main", "app.py").decode()


def test_no_learned_check_text_reaches_an_agent_but_the_validator_or_the_public(
    story: Story,
) -> None:
    for body in story.received:
        if role_of(body) in ("triage", "planner", "implementer", "reviewer"):
            assert CANARY not in json.dumps(body)
    assert any(CANARY in json.dumps(b) for b in story.received if role_of(b) == "validator")
    assert not any(CANARY in said for said in story.comments)
