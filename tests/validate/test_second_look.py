"""What the harness finds beside the validator's verdict, through a whole cycle (the real SDK
against the stand-in, real sealed validators in the app's network namespace, the factory's
code deciding): a click that failed on the change and works on what it builds on is a
regression, though the validator listed none (the harness does its actions again, with no
model, on a fresh app without the change); and with ``validation.second`` another model
judges each criterion from the recorded observations alone, a disagreement going to a person
with both answers. The hold-out's journeys and the security gate's analysers, which are not
what is judged here, stand in as passed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from harness.store.db import Store
from tests.checks_passed import analysers_find_nothing
from tests.cli_helpers import run_cli
from tests.factory_repo import git
from tests.validate.conftest import (
    Output,
    isolated_env,
    issue,
    journeys_pass,
    make_app,
    role_of,
    run_once,
    serve,
    set_rules,
)
from tests.validate.scenarios import implement_rule
from tests.validate.test_per_criterion import _passes, _triage, _verdict

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

GONE, DOUBTED = 1, 2
ISSUES = [
    ("Call the settings page Account", "The settings page should be headed Account."),
    ("Thank people in the footer", "Add a footer that thanks people for writing notes."),
]
SECOND = "claude-opus-5-5"
CLICK = {"role": "button", "name": "Create API token"}
DOUBT = "the page shows no footer"


def _second(match: str, result: str, why: str) -> dict[str, Any]:
    """The second look's answer for the issue ``match`` finds (known by its own prompt)."""
    entry = {"criterion": "C1", "result": result, "observations": [1], "evidence": why}
    answer = {"verdict": result, "score": 0.9, "criteria": [entry], "regressions": []}
    turn = {"tool": "submit_verdict", "input": answer | {"summary": why}}
    return {"output": "submit_verdict", "match": match, "governance": "a second time"} | {
        "turns": [[turn]]
    }


RULES = [
    _second("settings page Account", "pass", "The heading reads Account."),
    _second("in the footer", "fail", DOUBT),
    _triage("settings page Account", ["The settings page is headed Account."]),
    _triage("in the footer", ["The home page has a footer that thanks people."]),
    implement_rule(  # the heading, and (not asked) the button that makes API tokens
        "settings page Account",
        [
            {"path": "app.py", "old_text": '"<h1>Settings</h1>"', "new_text": '"<h1>Account</h1>"'},
            {"path": "app.py", "old_text": "Create API token</button>", "new_text": "New</button>"},
        ],
    ),
    implement_rule(
        "in the footer",
        [
            {
                "path": "app.py",
                "old_text": '        "</body></html>"\n    )\n\n\ndef render_settings',
                "new_text": '        "<footer>Thank you for your notes.</footer></body></html>"\n    )\n\n\n'
                "def render_settings",
            }
        ],
    ),
    _verdict(  # it tries the token button, which is gone, and lists no regression
        "settings page Account",
        [
            {"tool": "browser_navigate", "input": {"url": "/settings"}},
            {"tool": "browser_click", "input": CLICK},
        ],
        _passes(("C1", [1], 'heading "Account"')),
    ),
    _verdict(
        "in the footer",
        [{"tool": "browser_snapshot", "input": {}}],
        _passes(("C1", [1], "Thank you for your notes")),
    ),
]


@dataclass(frozen=True)
class Looked:
    decided: dict[int, dict[str, Any]]  # each issue's decision
    labels: dict[int, list[str]]
    second: list[str]  # each second look's request, as sent
    replayed: list[dict[str, Any]]  # the harness's own replay of the first issue's actions


@pytest.fixture(scope="module")
def looked(tmp_path_factory: pytest.TempPathFactory) -> Looked:
    root = tmp_path_factory.mktemp("second-look")
    state = root / "state"
    repo, _ = make_app(root)
    set_rules(repo, max_fix_attempts=0)  # what is read is the first route
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["validation"] = {**config.get("validation", {}), "second": {"model": SECOND}}
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "commit", "-qam", "a second look at each validation")
    with isolated_env(state) as mp, Output() as out:
        journeys_pass(mp)
        analysers_find_nothing(mp)
        cli = ("--repo", str(repo))
        for server in serve(root, mp, RULES):
            for title, body in ISSUES:
                made = ("issue", "new", "--title", title, "--body", body, "--author", "owner")
                assert run_cli(out, *cli, *made).code == 0
            # one validation after the other: neither is queued behind the other, so none
            # is built again (its verdict replayed, its clicks done again before it) when
            # the one ahead leaves the queue for a person
            run_once(out, repo, "--max-parallel", "1")
            labels = {n: issue(out, repo, n)["labels"] for n in (GONE, DOUBTED)}
            bodies = [b for _, b in server.received]
    store = Store.open(state)
    decided, replayed = {}, []
    for n in (GONE, DOUBTED):
        (run,) = store.list_runs(limit=None, workflow="validate", issue=n)
        steps = {s.step_id: s.outputs for s in store.steps(run.id) if s.status == "succeeded"}
        decided[n] = steps["decide"]
        replayed += [steps["check"]] if n == GONE else []
    store.close()
    second = [json.dumps(b) for b in bodies if "a second time" in json.dumps(b.get("system"))]
    assert {(json.loads(b)["model"], role_of(json.loads(b))) for b in second} == {
        (SECOND, "validator")
    }
    return Looked(decided, labels, second, replayed)


def test_a_click_that_fails_on_the_change_and_works_before_it_sends_it_back(
    looked: Looked,
) -> None:
    """The validator passed the change and listed no regression; its click on the Create
    API token button failed on the change, and the harness's own replay found it working on
    production: a regression the harness found, named with the action."""
    decided = looked.decided[GONE]
    assert decided["route"] == "needs_human", decided  # no fix attempt left: a person
    gates = {g["name"]: g for g in decided["gates"]}
    clicked = "browser_click {'name': 'Create API token', 'role': 'button'}"  # as stored
    said = f"observation 2 ({clicked}) failed on the change and works on production"
    assert said in gates["validator_regressions"]["evidence"], gates["validator_regressions"]
    assert gates["validator_evidence"]["passed"] and gates["validators_agree"]["passed"]
    assert "factory:merged" not in looked.labels[GONE]
    (checked,) = looked.replayed
    assert checked["works_before"] == [2]


def test_a_second_look_that_disagrees_goes_to_a_person_with_both_answers(
    looked: Looked,
) -> None:
    decided = looked.decided[DOUBTED]
    assert decided["route"] == "needs_review", decided
    both = f"the validator pass (Thank you for your notes); the second look fail ({DOUBT})"
    assert f"validators_agree: C1: {both}" in decided["reason"], decided["reason"]
    assert "factory:needs-review" in looked.labels[DOUBTED]
    # it judged from the recorded observations alone: no browser, no first verdict
    asked = next(b for b in looked.second if "in the footer" in b)
    assert "[observation 1] browser_snapshot" in asked and "Thank you for your notes." in asked
    assert "browser_navigate" not in asked and "As the issue asks." not in asked
