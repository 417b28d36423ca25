"""Triage knows how the app runs under validation: the statement reaches the triage agent
with the validator's tools, and a criterion the validation app cannot show (it has no
network) is marked there, in code from the structured answer: the issue waits for a person
before any implementation, suite or validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.artifacts import IssueSpec
from harness.cycle import ready_to_implement
from harness.model.scripted import Rule, ScriptedModel
from harness.services import open_services
from tests.cli_helpers import run_cli
from tests.standins.anthropic_standin import AnthropicStandIn
from tests.triage.conftest import API_KEY, make_repo
from tests.triage.test_triage_e2e import factory_comments, show

PREVIEW = "Each note that holds a link shows the preview image of the linked page."
ANSWER = {
    "decision": "accept",
    "priority": "p2",
    "kind": "feature",
    "rule": "mission.md: Capabilities",
    "reason": "Showing more about a note's link fits the notes list.",
    "acceptance_criteria": [PREVIEW, "A note without a link shows no preview."],
    "unobservable": [{"criterion": PREVIEW, "lacks": "network access to the linked page"}],
}


def test_a_criterion_the_validation_app_cannot_show_is_marked_at_triage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rule = Rule.model_validate(
        {"output": "submit_triage", "turns": [[{"tool": "submit_triage", "input": ANSWER}]]}
    )
    repo = make_repo(tmp_path)
    with AnthropicStandIn(responder=ScriptedModel([rule])) as standin:
        monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", standin.url)
        title = ("--title", "Link previews", "--body", "Show the linked page's image.")
        assert run_cli(capsys, "--repo", str(repo), "issue", "new", *title).code == 0
        res = run_cli(capsys, "--repo", str(repo), "triage", "--json")
        assert res.code == 0, res.err
    (asked,) = [body for _, body in standin.received]
    system = json.dumps(asked["system"])
    assert "no network: the app reaches nothing but itself" in system  # the environment
    assert "browser_request" in system  # with the validator's tools
    issue = show(capsys, repo, 1)
    assert "factory:needs-human" in issue["labels"] and "factory:accepted" not in issue["labels"]
    (comment,) = factory_comments(issue)
    assert "**Triage: Needs a maintainer.**" in comment
    assert f"- {PREVIEW} (lacks network access to the linked page)" in comment
    services = open_services(repo, tmp_path / "state", "scripted")
    spec = services.store.latest_artifact(IssueSpec, 1)
    assert spec is not None and spec.decision == "needs_human"
    assert spec.unobservable == [f"{PREVIEW} (lacks network access to the linked page)"]
    assert ready_to_implement(services) == []  # nothing is built or run for it


def test_the_start_command_is_shown_as_it_runs_not_as_a_template() -> None:
    """Triage and the validator read the start command with its port named in words: no raw
    ``{port}`` placeholder, and a literal brace as the command sees it."""
    from harness.config.models import Commands
    from harness.engine.templates import Templates

    commands = Commands(test="t", start="python3 app.py --port {port} --motd {{hi}}")
    said = Templates().render("prompts/validation_environment.md.j2", commands=commands)
    assert "{port}" not in said, said
    assert "started with `python3 app.py --port <port> --motd {hi}` (`<port>`: a free port" in said
