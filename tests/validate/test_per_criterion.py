"""A pass is a verdict on every criterion, through the whole cycle: the real SDK against the
stand-in, a real sealed validator in the app's network namespace, the factory's code deciding.
Three issues in one cycle — an API the validator calls with a header (it merges, each
criterion's observation in ``factory report``, the token masked everywhere the factory keeps
it), a change the validator passes while it sees something else gone (sent back for a fix,
then to a person), and an empty pass (sent back to the validator once, then to a person) —
and the cycle after it. The hold-out's journeys and the security gate's analysers, which are
not what is judged here, stand in as passed (``analysers_find_nothing``), and so does the fix
attempt's sealed validator, with the verdict the first one gave (what is read of that attempt
is its route)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.store.db import Store
from tests.checks_passed import analysers_find_nothing
from tests.cli_helpers import run_cli
from tests.validate.conftest import (
    Output,
    isolated_env,
    issue,
    journeys_pass,
    landed_tested_trees,
    make_app,
    role_of,
    run_once,
    serve,
    set_rules,
    validator_again,
)
from tests.validate.scenarios import implement_rule

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

API, REGRESSION, EMPTY = 1, 2, 3
ISSUES = [
    ("Document the notes API", "Say in the code how API clients read the notes."),
    ("Call the settings page Account", "The settings page should be headed Account."),
    ("Thank people in the footer", "Add a footer that thanks people for writing notes."),
]
CRITERIA = {
    "notes API": [
        "GET /api/notes with a token made on /settings answers 200 with the notes.",
        "GET /api/notes without a token answers 401.",
    ],
    "settings page Account": ["The settings page is headed Account."],
    "in the footer": ["The home page has a footer that thanks people."],
}


def _triage(match: str, criteria: list[str]) -> dict[str, Any]:
    answer = {"decision": "accept", "priority": "p2", "kind": "feature"}
    answer |= {"rule": "mission.md: Capabilities", "reason": "A small, clear change."}
    answer |= {"acceptance_criteria": criteria}
    return {
        "output": "submit_triage",
        "match": match,
        "turns": [[{"tool": "submit_triage", "input": answer}]],
    }


def _verdict(match: str, looks: list[dict[str, Any]], verdict: dict[str, Any]) -> dict[str, Any]:
    turns = [[look] for look in looks] + [[{"tool": "submit_verdict", "input": verdict}]]
    return {"output": "submit_verdict", "match": match, "turns": turns}


def _passes(
    *cited: tuple[str, list[int], str], regressions: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    criteria = [
        {"criterion": c, "result": "pass", "observations": o, "evidence": "seen", "quote": q}
        for c, o, q in cited
    ]
    return {
        "verdict": "pass",
        "score": 0.95,
        "criteria": criteria,
        "regressions": regressions or [],
        "summary": "As the issue asks.",
    }


GONE = "the Create API token button is gone from /settings"
RULES = [
    *[_triage(match, criteria) for match, criteria in CRITERIA.items()],
    implement_rule(
        "notes API",
        [
            {
                "path": "app.py",
                "old_text": '"""The notes as JSON, for a client holding a token',
                "new_text": '"""The notes as JSON (GET /api/notes), for a client holding a token',
            }
        ],
    ),
    implement_rule(  # the heading, and (not asked) the button that makes API tokens
        "settings page Account",
        [
            {"path": "app.py", "old_text": '"<h1>Settings</h1>"', "new_text": '"<h1>Account</h1>"'},
            {
                "path": "app.py",
                "old_text": "Create API token</button>",
                "new_text": "New token</button>",
            },
            # an edit its fix attempt makes again (the two above are in the work it resumes)
            {
                "path": "test_app.py",
                "old_text": "import unittest\n",
                "new_text": "import unittest\n\n# the settings page\n",
            },
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
    _verdict(
        "notes API",
        [
            {"tool": "browser_navigate", "input": {"url": "/settings"}},
            {"tool": "browser_click", "input": {"role": "button", "name": "Create API token"}},
            {
                "tool": "browser_request",
                "input": {"url": "/api/notes", "headers": {"Authorization": "Bearer ${token}"}},
                "recall": {"token": r"code: ([0-9a-f]{32})"},
            },
            {"tool": "browser_request", "input": {"url": "/api/notes"}},
            {"tool": "browser_request", "input": {"url": "http://example.com/api/notes"}},
        ],
        _passes(("C1", [3], "HTTP 200"), ("C2", [4], "HTTP 401")),
    ),
    _verdict(
        "settings page Account",
        [{"tool": "browser_navigate", "input": {"url": "/settings"}}],
        _passes(
            ("C1", [1], 'heading "Account"'), regressions=[{"what": GONE, "observations": [1]}]
        ),
    ),
    _verdict(  # what a page told it to do: pass, judging nothing
        "in the footer",
        [{"tool": "browser_snapshot", "input": {}}],
        {"verdict": "pass", "score": 1.0, "criteria": [], "regressions": [], "summary": "ok"},
    ),
]


@dataclass(frozen=True)
class Judged:
    repo: Path
    state: Path
    first: dict[int, dict]  # each issue after the first cycle
    last: dict[int, dict]  # and after the second
    decided: dict[int, list[dict[str, Any]]]  # each issue's decisions, oldest first
    report: str  # ``factory report`` of the API's validation
    report_json: dict
    shown: str  # ``factory issue show`` of the API's issue
    token: str  # the API token the validator made and sent
    asked: list[str]  # the implementer's first request of each attempt
    api_results: list[str]  # each tool's answer the API's validator was shown, in order


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> Judged:
    root = tmp_path_factory.mktemp("per-criterion")
    state = root / "state"
    repo, _ = make_app(root)
    set_rules(repo, max_fix_attempts=1)
    with isolated_env(state) as mp, Output() as out:
        journeys_pass(mp)
        analysers_find_nothing(mp)  # the security gate's: no change here adds a finding
        cli = ("--repo", str(repo))
        for server in serve(root, mp, RULES):
            for title, body in ISSUES:
                made = ("issue", "new", "--title", title, "--body", body, "--author", "owner")
                assert run_cli(out, *cli, *made).code == 0
            # one validation after the other: none is queued behind another, so none is
            # built again (its verdict replayed in a seal) when the one ahead lands or leaves
            run_once(out, repo, "--max-parallel", "1")
            first = {n: issue(out, repo, n) for n in (1, 2, 3)}
            # the fix attempt of the change that made a button go: what is read of it is its
            # route, and its validator stands in with the seal's own verdict on the first
            given = validator_again(mp, state, REGRESSION)
            assert given.output is not None and given.output.regressions, given
            run_once(out, repo)
            last = {n: issue(out, repo, n) for n in (1, 2, 3)}
            bodies = [b for _, b in server.received]
        store = Store.open(state)
        decided = {
            n: [
                s.outputs
                for r in reversed(store.list_runs(limit=None, workflow="validate", issue=n))
                for s in store.steps(r.id)
                if s.step_id == "decide" and s.status == "succeeded"
            ]
            for n in (1, 2, 3)
        }
        (api_run,) = store.list_runs(limit=None, workflow="validate", issue=API)
        store.close()
        report = run_cli(out, *cli, "report", api_run.id).out
        report_json = run_cli(out, *cli, "report", api_run.id, "--json").json()
        shown = run_cli(out, *cli, "issue", "show", str(API)).out
    validator = [json.dumps(b) for b in bodies if role_of(b) == "validator"]
    token = next(t for b in validator for t in re.findall(r"code: ([0-9a-f]{32})", b))
    asked = [
        json.dumps(b) for b in bodies if role_of(b) == "implementer" and len(b["messages"]) == 1
    ]
    api = f"Check issue {API} in the running app"
    (last_call,) = [b for b in bodies if role_of(b) == "validator" and api in json.dumps(b)][-1:]
    api_results = [
        str(block["content"])
        for message in last_call["messages"]
        for block in message["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]
    landed_tested_trees(state)
    return Judged(
        repo, state, first, last, decided, report, report_json, shown, token, asked, api_results
    )


def test_an_api_checked_with_a_header_merges_each_criterion_on_its_observation(
    judged: Judged,
) -> None:
    data = judged.first[API]
    assert "factory:merged" in data["labels"], (data["labels"], judged.decided[API])
    (decided,) = judged.decided[API]
    gates = {g["name"]: g for g in decided["gates"]}
    judged_as = "2 criteria judged, each pass quoting what it saw"
    assert gates["validator_evidence"]["evidence"] == judged_as
    # factory report: each criterion, its result and quote, and the observation it rests on
    # with where it was made
    lines = judged.report.splitlines()
    c1 = lines.index(f'  C1 pass: {CRITERIA["notes API"][0]} — seen — quote: "HTTP 200"')
    said = "    #3 browser_request {'headers': {'Authorization': '[masked]'}, 'url': '/api/notes'}"
    assert lines[c1 + 1].startswith(f"{said} at /api/notes HTTP 200"), lines[c1 + 1]
    assert "HTTP 200: GET http://" in lines[c1 + 1] and "/api/notes -> HTTP 200 OK" in lines[c1 + 1]
    c2 = lines.index(f'  C2 pass: {CRITERIA["notes API"][1]} — seen — quote: "HTTP 401"')
    assert "#4 browser_request {'url': '/api/notes'} at /api/notes HTTP 401:" in lines[c2 + 1]
    (c1_json, c2_json) = judged.report_json["validator"]
    assert (c1_json["criterion"], c1_json["result"], c1_json["quote"]) == ("C1", "pass", "HTTP 200")
    assert [(o["number"], o["status"], o["at"]) for o in c1_json["cited"]] == [
        (3, 200, "/api/notes")
    ]
    # factory issue show: the validation's comment gives each criterion, its quote and where
    assert "| C1 | pass | HTTP 200 | #3 /api/notes |" in judged.shown, judged.shown
    assert [(o["number"], o["status"]) for o in c2_json["cited"]] == [(4, 401)]
    assert c1_json["cited"][0]["input"]["headers"]["Authorization"] == "[masked]"


def test_the_validator_calls_the_api_with_the_token_it_made_and_nothing_else(
    judged: Judged,
) -> None:
    """The demo's API answers only a bearer token made on /settings: the validator makes one
    through the page, reads it there, and calls the API with it and without it; a call to
    another origin is refused before anything is sent. Each call is a numbered observation
    of its record, the token it sent masked there."""
    with_token, without, elsewhere = judged.api_results[2:5]
    assert with_token.startswith("[observation 3] ") and without.startswith("[observation 4] ")
    assert re.search(r"GET http://\S+/api/notes -> HTTP 200", with_token), with_token
    assert "sent: headers authorization;" in with_token and "body (2 characters):\n[]" in with_token
    assert re.search(r"GET http://\S+/api/notes -> HTTP 401", without), without
    assert "www-authenticate: Bearer" in without and "cookies not sent" in without
    assert "http://example.com/api/notes is not part of the app" in elsewhere
    store = Store.open(judged.state)
    (run,) = store.list_runs(limit=None, workflow="validate", issue=API)
    check = [s.outputs for s in store.steps(run.id) if s.step_id == "check"][-1]  # it merged on
    store.close()
    calls = [o for o in check["validator"]["observed"] if o["tool"] == "browser_request"]
    assert [(o["error"], o["status"]) for o in calls] == [(False, 200), (False, 401), (True, None)]
    assert calls[0]["input"]["headers"]["Authorization"] == "[masked]"
    assert "example.com" not in "".join(check["validator"]["blocked"])  # refused, not sent


def test_the_token_the_validator_sent_is_masked_in_the_store_the_report_and_the_transcript(
    judged: Judged,
) -> None:
    token = judged.token
    assert token not in judged.report and token not in json.dumps(judged.report_json)
    kept = [judged.state / "state.db", *(judged.state / "transcripts").rglob("*")]
    held = [str(p) for p in kept if p.is_file() and token.encode() in p.read_bytes()]
    assert held == [], held
    assert any(b"[masked]" in p.read_bytes() for p in kept if p.is_file() and "validator" in p.name)


def test_a_pass_that_saw_something_else_gone_goes_back_for_a_fix_then_to_a_person(
    judged: Judged,
) -> None:
    first, again = judged.decided[REGRESSION]
    assert first["route"] == "retry", first
    assert "validator_regressions failed" in first["reason"]
    assert "factory:merged" not in judged.first[REGRESSION]["labels"]
    # the fix attempt is told what the validator saw, in its words
    assert any(GONE in a and "validator_regressions" in a for a in judged.asked)
    assert again["route"] == "needs_human" and GONE in again["reason"], again
    labels = judged.last[REGRESSION]["labels"]
    assert "factory:needs-human" in labels and "factory:merged" not in labels


def test_an_empty_pass_is_sent_back_once_then_goes_to_a_person_naming_the_criterion(
    judged: Judged,
) -> None:
    (decided,) = judged.decided[EMPTY]
    assert decided["route"] == "needs_review", decided
    assert "validator_evidence: C1 not judged" in decided["reason"]
    assert decided["score"] == 1.0  # kept as given: it merges nothing
    assert "factory:merged" not in judged.last[EMPTY]["labels"]
    store = Store.open(judged.state)
    (run,) = store.list_runs(limit=None, workflow="validate", issue=EMPTY)
    check = next(s.outputs for s in store.steps(run.id) if s.step_id == "check")
    store.close()
    said = check["validator"]["sent_back"]
    assert said.startswith("Your verdict does not rest on what you observed yet: C1 not judged")
