"""A second pair of eyes and the circuit breaker, through ``factory implement`` with the real
client against the stand-in: with ``review.second`` a disagreement goes to a person with both
reviews; with ``models.escalate`` each attempt after a refused one calls the next tier, and
``factory status --json`` counts attempts and merges per kind, role and model. The security
gate's analysers stand in as having found nothing (``analysers_quiet``): the reviewers and
the models are the subject here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.artifacts import CheckResult, PrCandidate
from harness.config.models import Rules
from harness.model.base import Model, Request, Response
from harness.model.scripted import ScriptedModel, load_script
from harness.store.db import Store
from harness.validate.route import decide_route
from tests.cli_helpers import run_cli
from tests.implement.conftest import (
    KEY,
    accepted_issue,
    big_script,
    conflict_retry,
    make_app_repo,
)
from tests.standins.anthropic_standin import AnthropicStandIn

pytestmark = pytest.mark.usefixtures("analysers_quiet")

SECOND = "claude-sonnet-5"
TIERS = ["claude-sonnet-5-5", "claude-opus-5-5"]
REFUSED = {
    "output": "submit_review",
    "turns": [
        [
            {
                "tool": "submit_review",
                "input": {
                    "verdict": "request_changes",
                    "score": 0.3,
                    "findings": [{"severity": "high", "description": "greet() echoes input"}],
                },
            }
        ]
    ],
}


class ByModel:
    """The implement tests' script, but the second reviewer's model answers with its own."""

    kind = "scripted"

    def __init__(self, usual: Model, second: Model) -> None:
        self.usual, self.second = usual, second

    def create(self, request: Request) -> Response:
        return (self.second if request["model"] == SECOND else self.usual).create(request)


@pytest.fixture
def two_minds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicStandIn]:
    (tmp_path / "second.yaml").write_text(yaml.safe_dump([REFUSED]))
    usual = ScriptedModel(load_script(big_script(tmp_path)))
    second = ScriptedModel(load_script(tmp_path / "second.yaml"))
    with AnthropicStandIn(responder=ByModel(usual, second)) as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server


def test_a_second_reviewer_who_disagrees_sends_the_change_to_a_person(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], two_minds: AnthropicStandIn
) -> None:
    second = {"second": {"model": SECOND, "lens": "security"}}
    repo = make_app_repo(tmp_path, config={"review": second})
    number = accepted_issue(capsys, repo, "Add a greeting")
    res = run_cli(capsys, "--repo", str(repo), "implement", str(number), "--json")
    assert res.code == 0, res.err  # a gate for a person: the pull request is opened
    lens = [b for _, b in two_minds.received if b["model"] == SECOND]
    assert lens and "Lens: security" in json.dumps(lens[0]["system"])
    assert "greet.py" in json.dumps(lens[0]["messages"])  # the same diff and test output
    store = Store.open(tmp_path / "state")
    ((_, candidate),) = store.artifacts(PrCandidate, number)
    (agree,) = [g for g in candidate.gates if g.name == "reviews_agree"]
    assert not agree.passed
    assert agree.evidence.startswith("reviewer (claude-opus-5-5): approve 0.95")
    assert f"second reviewer ({SECOND}, security lens): request_changes 0.3" in agree.evidence
    assert "[high] greet() echoes input" in agree.evidence
    # the issue is told which gate failed, never that every gate passed
    (opened,) = [c.body for c in store.comments(number) if "factory:implement:pr" in c.body]
    assert "Failed in code: `reviews_agree`." in opened and "every gate passed" not in opened
    # every other gate green on the candidate: the route is a person's review, both reviews
    checked = CheckResult(
        sha="c" * 40,
        tree="t" * 40,
        journeys=[],
        journeys_passed=True,
        production_sha="p" * 40,
        head=candidate.head,
        validator={"output": {"verdict": "pass", "score": 0.95}, "observed": [_looked()]},
    )
    routing = decide_route(Rules(), candidate, checked, "success")
    assert routing.route == "needs_review"
    assert "approve 0.95" in routing.reason and "request_changes 0.3" in routing.reason


def _looked() -> dict[str, object]:
    return {"tool": "browser_snapshot", "input": {}, "seen": "f" * 64}


def test_a_retry_after_a_refused_attempt_runs_one_tier_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], standin: AnthropicStandIn
) -> None:
    repo = make_app_repo(tmp_path, config={"models": {"escalate": {"implementer": TIERS}}})
    number = accepted_issue(capsys, repo, "Tidy the footer")  # refused by a gate each time
    cli = ("--repo", str(repo))
    first = run_cli(capsys, *cli, "implement", str(number), "--json")
    assert first.code == 1 and "protected_paths" in first.json()["reason"]
    asked = len(standin.received)
    assert run_cli(capsys, *cli, "retry", str(number)).code == 0
    again = run_cli(capsys, *cli, "implement", str(number), "--json")
    assert again.code == 1

    def models(bodies: list[dict]) -> set[str]:
        return {b["model"] for b in bodies if "finish" in {t["name"] for t in b.get("tools", [])}}

    bodies = [b for _, b in standin.received]
    assert models(bodies[:asked]) == {TIERS[0]}
    assert models(bodies[asked:]) == {TIERS[1]}  # the next tier
    status = run_cli(capsys, *cli, "status", "--json").json()
    implementer = [m for m in status["models"] if m["role"] == "implementer"]
    assert implementer == [
        {"kind": "feature", "role": "implementer", "model": m, "attempts": 1, "merged": 0}
        for m in sorted(TIERS)
    ]
    assert {m["role"] for m in status["models"]} == {"planner", "implementer", "reviewer"}
    report = run_cli(capsys, *cli, "report", again.json()["run_id"])
    assert f"  {TIERS[1]}: $" in report.out  # what the escalated attempt cost


def test_a_rebase_runs_on_the_model_that_wrote_the_change_and_counts_as_that_attempt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], standin: AnthropicStandIn
) -> None:
    """Production moved under a change (its validation found it no longer merges): taken up
    again, it is written by the same tier, not the next (escalation is for the change's own
    failures), and ``factory status`` counts the two runs as one attempt of that tier, which
    merged once the rebase landed."""
    repo = make_app_repo(tmp_path, config={"models": {"escalate": {"implementer": TIERS}}})
    number = accepted_issue(capsys, repo, "Add a greeting")
    cli = ("--repo", str(repo))
    first = run_cli(capsys, *cli, "implement", str(number), "--json")
    assert first.code == 0, first.err
    asked = len(standin.received)
    store = Store.open(tmp_path / "state")
    conflict = "no longer merges with production: app.py changed on both sides"
    candidate = conflict_retry(store, repo, number, conflict)

    again = run_cli(capsys, *cli, "implement", str(number), "--json")
    assert again.code == 0, again.err
    bodies = [b for _, b in standin.received[asked:]]
    written = {b["model"] for b in bodies if "finish" in {t["name"] for t in b.get("tools", [])}}
    assert written == {TIERS[0]}  # the same tier: production's move is not the change's fault
    rebase = again.json()["run_id"]
    landed = store.create_run("validate", number, {}, {})  # the rebase landed
    target = {"implement_run": rebase, "pr": candidate.pr + 1, "head": "h" * 40}
    for kind, record in (
        ("ValidationTarget", target),
        ("Landing", {**target, "merge_sha": "m" * 40}),
    ):
        seq = store.start_step(landed.id, kind, {})
        store.finish_step(seq, "succeeded", record, artifact=kind)
    status = run_cli(capsys, *cli, "status", "--json").json()
    implementer = [m for m in status["models"] if m["role"] == "implementer"]
    assert implementer == [
        {"kind": "feature", "role": "implementer", "model": TIERS[0], "attempts": 1, "merged": 1}
    ]
    store.close()
