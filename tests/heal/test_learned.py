"""Learned checks on production (docs/how-it-works.md, "Learned checks").

One scenario for the module (``learned``): the factory lands a change whose validator passed
four criteria on quotes — one the app shows every time, one a random number, one a token the
app made that the validator typed back, one a request it sent with a secret — through the
real smoke run, which tries each as a learned check; the validation is killed right after it
kept the first, and resumed. Then a later factory merge renames the settings page's button
(no journey sees it), and ``factory health`` finds the learned check failing, blames that
merge and reverts it through the merge queue, with no person. The checks the validation
waits for stand in (``tests/checks_passed.py``; the validator's run as the seal would have
recorded it, ``OBSERVED``); the smoke runs, health, the bisect and every learned check's
replay and try run for real, in their apps and browsers, and so does ``factory doctor``
with the hold-out's own journey. That journey stands in as passed in the smoke runs and
health (``journeys_stand_in``): it is green on every tree here, and it is not what they
find. Each test reads one property of what it left."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from harness import artifacts
from harness.artifacts import (
    Blame,
    CheckResult,
    CriterionResult,
    Diagnosis,
    Prepared,
    ValidatorRun,
    Verdict,
)
from harness.artifacts.browser import JourneyResult, Observation
from harness.browser.journeys import Learned
from harness.engine.actions import action
from harness.engine.context import StepContext
from harness.engine.records import RunRecords
from harness.reports.checks import check_rows
from harness.serve.app import Dashboard, Session
from harness.services import open_services
from harness.store.db import Store
from harness.validate.run import validate_issue
from harness.validate.suite import suite_runs
from tests.checks_passed import CHECKS_PASSED, analysers_find_nothing, calibrated
from tests.cli_helpers import run_cli, use_actions
from tests.cli_helpers import spawn as factory
from tests.factory_repo import git
from tests.heal.conftest import land, proposed
from tests.validate.conftest import (
    HOLDOUT_CANARY,
    Output,
    isolated_env,
    issue,
    make_app,
    serve,
)

# one scenario, read by every test: one worker plays it
pytestmark = [pytest.mark.browser, pytest.mark.timeout(900), pytest.mark.together("learned")]

CANARY = "LEARNED-CANARY-5e1f0b"  # a note the validator typed: in the learned check alone
LUCKY = "Lucky number: 4242"
TOKEN = "0123456789abcdef0123456789abcdef"  # what the app showed after a click
BUTTON = '<button type="submit">Create API token</button>'
RANDOM = '"<h1>Settings</h1>"\n        f"<p>Lucky number: {secrets.randbelow(10**9)}</p>"'
CRITERIA = [
    "The settings page offers to create an API token.",
    "The settings page shows a lucky number.",
    "A token made on the settings page can be kept as a note.",
    "The notes API answers a client holding a token.",
]


def _seen(n: int, tool: str, given: dict, excerpt: str) -> Observation:
    return Observation(tool, given, f"digest {n}", number=n, status=200, excerpt=excerpt)


# the sealed validator's actions on the candidate, as the seal records them (a secret it sent
# under a secret's name is masked)
OBSERVED = [
    _seen(1, "browser_navigate", {"url": "/"}, 'opened http://app/ (HTTP 200)\n- heading "Notes"'),
    _seen(2, "browser_type", {"label": "Note", "text": CANARY, "submit": True}, CANARY),
    _seen(3, "browser_navigate", {"url": "/settings"}, f'- button "Create API token"\n{LUCKY}'),
    _seen(4, "browser_click", {"role": "button", "name": "Create API token"}, f"token: {TOKEN}"),
    _seen(5, "browser_navigate", {"url": "/"}, "opened http://app/"),
    _seen(6, "browser_type", {"label": "Note", "text": TOKEN, "submit": True}, f"- {TOKEN}"),
    _seen(
        7,
        "browser_request",
        {"url": "/api/notes", "headers": {"Authorization": "Bearer [masked]"}},
        "GET http://app/api/notes -> HTTP 200 OK",
    ),
]
QUOTED = {"C1": ("Create API token", 3), "C2": (LUCKY, 3), "C3": (TOKEN, 6), "C4": ("HTTP 200", 7)}


@action("validate.check")
def checked_on_quotes(ctx: StepContext, prepare: Prepared) -> CheckResult:
    """The candidate's check, standing in: its tests passed and the validator passed each
    criterion on the quote ``QUOTED`` gives it, in the observation it names."""
    repo = ctx.services.repo
    production = ctx.services.forge.sync("main")
    candidate = repo.merge_commit(production, prepare.head, "Candidate")
    tree = str(repo.tree_of(candidate))
    criteria = [
        CriterionResult(criterion=c, result="pass", observations=[n], quote=quote)
        for c, (quote, n) in QUOTED.items()
    ]
    return CheckResult(
        sha=candidate,
        tree=tree,
        journeys=[],
        journeys_passed=True,
        tests=artifacts.Tested(command="python3 -m unittest -q", exit_code=0, tree=tree),
        validator=ValidatorRun(
            output=Verdict(verdict="pass", score=1.0, criteria=criteria),
            observed=OBSERVED,
            criteria=CRITERIA,
        ),
        production_sha=production,
        head=prepare.head,
    )


LEARNING = (calibrated, checked_on_quotes)  # the smoke run after the merge is the factory's


def journeys_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hold-out's journey stands in as passed in every check (smoke, health), a browser
    for none; each learned check, tried or replayed, runs on its app in its browser."""
    from harness.validate import evidence

    real = evidence._journey_check

    def journey(at: object, number: int, group: list) -> tuple[int, list[JourneyResult]]:
        if any(isinstance(check, Learned) for check in group):
            return real(at, number, group)
        return 0, [JourneyResult(j.name, True, 1, final_text="Notes") for j in group]

    monkeypatch.setattr(evidence, "_journey_check", journey)


def learning_stands_in() -> None:
    """In a spawned ``factory``: the checks before the smoke run stand in (``LEARNING``), and
    the hold-out's journey (``journeys_stand_in``)."""
    mp = pytest.MonkeyPatch()
    use_actions(mp, *LEARNING)
    journeys_stand_in(mp)


@dataclass(frozen=True)
class Scenario:
    repo: Path
    state: Path
    holdout: Path
    first: int  # the issue whose validation taught the checks
    killed: tuple[int | None, str]  # the validation killed after it kept the first check
    kept_then: list[str]  # the learned folder's files at that moment
    culprit: tuple[int, str]  # the later merge that renamed the button
    doctor: dict  # ``factory doctor --journeys --json`` on the culprit's production
    health: dict  # ``factory health --json``


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    root = tmp_path_factory.mktemp("learned")
    state = root / "state"
    repo, holdout = make_app(root)
    # one check at a time: each process here (the spawned one too) starts one Playwright
    # driver, not one for each check it runs side by side (each as costly as a browser)
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["validation"] = {**config.get("validation", {}), "parallel_checks": 1}
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "commit", "-qam", "one check at a time")
    page = (repo / "app.py").read_text()
    with isolated_env(state) as mp, Output() as out:
        for _ in serve(root, mp):
            journeys_stand_in(mp)
            analysers_find_nothing(mp)  # in the revert's security gate: not what it is about
            lucky = page.replace('"<h1>Settings</h1>"', RANDOM)
            _, first = proposed(repo, state, "Show a lucky number", {"app.py": lucky}, CRITERIA)
            env = {**os.environ, "FACTORY_FAULT_AT": "validate.learned.kept"}
            crashed = factory(repo, env, "validate", str(first), before=learning_stands_in)
            _, err = crashed.communicate(timeout=800)
            kept_then = sorted(p.name for p in (holdout / "learned").glob("*"))
            with pytest.MonkeyPatch.context() as resumed:
                use_actions(resumed, *LEARNING)
                validate_issue(open_services(repo, state), first)  # resumed at its smoke run
            renamed = lucky.replace(BUTTON, BUTTON.replace("Create", "New"))
            culprit = land(repo, state, "Call the token button New", {"app.py": renamed})
            doctor = run_cli(out, "--repo", str(repo), "doctor", "--journeys", "--json").json()
            with pytest.MonkeyPatch.context() as reverting:  # the revert lands as any revert
                use_actions(reverting, *CHECKS_PASSED)
                health = run_cli(out, "--repo", str(repo), "health", "--json").json()
    return Scenario(
        repo,
        state,
        holdout,
        first,
        (crashed.returncode, err),
        kept_then,
        culprit,
        doctor,
        health,
    )


@pytest.fixture
def at(learned: Scenario, monkeypatch: pytest.MonkeyPatch) -> Scenario:
    monkeypatch.setenv("FACTORY_STATE_DIR", str(learned.state))
    return learned


def kept(holdout: Path) -> dict[str, dict]:
    return {p.stem: yaml.safe_load(p.read_text()) for p in sorted((holdout / "learned").glob("*"))}


def test_a_quote_that_replays_twice_is_adopted_the_others_dropped_with_why(at: Scenario) -> None:
    checks = kept(at.holdout)
    n = at.first
    assert set(checks) == {f"{n}-C1", f"{n}-C2", f"{n}-C3", f"{n}-C4"}
    adopted = checks[f"{n}-C1"]
    assert adopted["state"] == "adopted" and adopted["quote"] == "Create API token"
    assert [tool for tool, _ in adopted["actions"]] == [
        "browser_navigate",
        "browser_type",
        "browser_navigate",
    ]  # up to the observation that shows the quote
    # a random number never shows the same twice: never adopted
    lucky = checks[f"{n}-C2"]
    assert lucky["state"] == "dropped" and lucky["why"] == "2 of 2 replays did not show its quote"
    # the token the app made after a click, typed back: a secret a plain visitor is not shown
    assert checks[f"{n}-C3"]["state"] == "dropped"
    assert "observation 6 gives what the app showed only after it acted" in checks[f"{n}-C3"]["why"]
    # a request holding a secret (masked by the seal): never kept
    assert checks[f"{n}-C4"]["why"] == "it holds a secret the validator typed or sent"


def test_no_learned_check_holds_a_secret_a_plain_visitor_is_not_shown(at: Scenario) -> None:
    # a dropped one keeps neither actions nor quote: what it held is nowhere in the hold-out
    for path in (at.holdout / "learned").iterdir():
        assert TOKEN not in path.read_text() and "[masked]" not in path.read_text()
    assert kept(at.holdout)[f"{at.first}-C3"]["actions"] == []


def test_killed_after_it_kept_the_first_check_the_resumed_validation_keeps_the_rest_once(
    at: Scenario,
) -> None:
    code, err = at.killed
    assert code == -signal.SIGKILL, err
    assert at.kept_then == [f"{at.first}-C1.yaml"]  # the first, whole: no part file left
    store = Store.open(at.state)
    (run,) = store.list_runs(limit=None, workflow="validate", issue=at.first)
    smoke = [s.status for s in store.steps(run.id) if s.step_id == "smoke"]
    assert run.status == "succeeded" and smoke == ["running", "succeeded"]
    # the first kept as it was (not tried again), each other once
    replays = [
        j["name"]
        for s in store.steps(run.id)
        if s.step_id == "smoke"
        for j in s.outputs.get("journeys", [])
    ]
    assert replays.count(f"learned:{at.first}-C1") == 1  # replayed as adopted, not tried
    assert replays.count(f"learned:{at.first}-C2") == 2


def test_a_merge_breaking_a_learned_check_is_reverted_by_health_the_check_named_by_id(
    capsys, at: Scenario
) -> None:
    culprit_issue, culprit = at.culprit
    check = f"learned:{at.first}-C1"
    assert at.health["outcome"] == "reverted", at.health
    regression = at.health["reverting"]
    assert at.health["revert_landed"]
    assert "Create API token" in (at.repo / "app.py").read_text()  # the button is back
    store = Store.open(at.state)
    (heal,) = store.list_runs(limit=None, workflow="heal")
    records = RunRecords(store.steps(heal.id))
    diagnosed, blame = records.newest(Diagnosis), records.newest(Blame)
    assert diagnosed is not None and diagnosed.checks == [check]  # the journey is green
    assert blame is not None and blame.culprit == culprit and blame.issue == culprit_issue
    assert store.events(kind="human.") == []  # no person
    assert suite_runs(store, None, heal.id) == (0, [])  # a learned check is not a test
    filed = issue(capsys, at.repo, regression)
    assert check in filed["body"]  # named by its id
    said = [filed["body"], *(c["body"] for c in filed["comments"])]
    reopened = issue(capsys, at.repo, culprit_issue)
    said += [c["body"] for c in reopened["comments"]]
    for text in said:  # what it does stays with the hold-out
        assert CANARY not in text and HOLDOUT_CANARY not in text and "browser_" not in text


def test_doctor_journeys_replays_the_learned_checks_too(at: Scenario) -> None:
    checks = {c["name"]: c["passed"] for c in at.doctor["checks"]}
    assert checks[f"journey: learned:{at.first}-C1"] is False  # the culprit's production
    assert all(passed for name, passed in checks.items() if "learned" not in name)


def test_factory_checks_lists_shows_and_retires_them_as_the_dashboard_and_mcp_do(
    capsys, at: Scenario
) -> None:
    repo, first = str(at.repo), f"{at.first}-C1"
    listed = run_cli(capsys, "--repo", repo, "checks", "--json").json()
    row = next(r for r in listed if r["id"] == first)
    assert row["state"] == "adopted" and row["merge"] and row["run"] and row["seconds"] > 0
    assert "quote" not in row and "actions" not in row  # the list never shows what it does
    assert "Create API token" in run_cli(capsys, "--repo", repo, "checks", "show", first).out
    text = run_cli(capsys, "--repo", repo, "checks").out
    assert first in text and "last replay: " in text and "Create API token" not in text
    for bad in (
        ("checks", "show"),
        ("checks", "retire", first),
        ("checks", "show", "9-C9"),
        ("checks", "retire", f"{at.first}-C2", "--reason", "x"),  # dropped: not adopted
    ):
        refused = run_cli(capsys, "--repo", repo, *bad)
        assert refused.code == 2 and len(refused.err.strip().splitlines()) == 1, bad
    services = open_services(at.repo, at.state)
    page = Dashboard(services, "token", "someone", lambda: services).page(
        "checks.html", Session("s", "c"), checks=check_rows(services)
    )
    shown = bytes(page.body).decode()
    assert first in shown and "Create API token" not in shown
    # a maintainer's retirement is final: never replayed, never learned again
    done = run_cli(capsys, "--repo", repo, "checks", "retire", first, "--reason", "obsolete")
    assert done.code == 0 and done.out == f"retired {first}\n"
    again = run_cli(capsys, "--repo", repo, "checks", "show", first, "--json").json()
    assert again["state"] == "retired" and again["why"] == "by a maintainer: obsolete"
    assert run_cli(capsys, "--repo", repo, "checks", "retire", first, "--reason", "x").code == 2
