"""Validators are data: what ``validators/sealed_browser.yaml`` declares is what the sealed
validator gets, and a ``.factory/validators/`` override on the production branch replaces
it (checked like any configuration)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.browser.confine import Launcher
from harness.model.base import CallRecord
from harness.model.scripted import Rule, ScriptedModel
from harness.paths import validators_dir
from harness.sandbox.app import AppProcess, free_port
from harness.sandbox.bwrap import Sandbox
from harness.services import open_services
from harness.validate.evidence import run_validator, sealed_request
from harness.validate.sealed import ValidatorQuestion
from tests.cli_helpers import run_cli
from tests.factory_repo import git
from tests.standins.anthropic_standin import AnthropicStandIn
from tests.validate.conftest import KEY, role_of
from tests.validate.scenarios import Watching

OVERRIDE = ".factory/validators/sealed_browser.yaml"
DROPPED = "browser_take_screenshot"


def shipped() -> dict:
    data: dict = yaml.safe_load((validators_dir() / "sealed_browser.yaml").read_text())
    return data


def override_with(repo: Path, **changes: object) -> None:
    """Commit an override of the sealed validator on the production branch."""
    path = repo / OVERRIDE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({**shipped(), **changes}, sort_keys=False))
    git(repo, "add", "-f", OVERRIDE)  # .factory/ is where the state lives: ignored by default
    git(repo, "commit", "-qm", "a stricter sealed validator")


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    from harness.demo import generate

    repo, _, _ = generate(tmp_path)
    return repo


@pytest.fixture
def app(notes: Path, tmp_path: Path) -> Iterator[AppProcess]:
    """The notes app, served from a copy in its sandbox (a network namespace of its own)."""
    port = free_port()
    served_from = tmp_path / "served"
    served_from.mkdir()
    (served_from / "app.py").write_bytes((notes / "app.py").read_bytes())
    with AppProcess(Sandbox(served_from), f"python3 app.py --port {port}", port) as served:
        served.wait_ready(30)
        yield served


class Recorded:
    """Hooks that let every call through and keep its record."""

    def __init__(self) -> None:
        self.calls: list[CallRecord] = []

    def before_call(self, request: dict[str, Any]) -> None:
        return None

    def after_call(self, record: CallRecord) -> None:
        self.calls.append(record)


def question(services, *criteria: str) -> ValidatorQuestion:
    settings = services.settings
    return ValidatorQuestion(
        model=settings.config.models.validator,
        governance=settings.governance.texts(),
        task="Check that the home page shows the heading Notes.",
        criteria=list(criteria),
    )


def request_for(services, tmp_path: Path, url: str = "http://127.0.0.1:1"):
    return sealed_request(
        services, question(services), 5.0, url, tmp_path / "shots", tmp_path, None
    )


def test_the_shipped_definition_is_what_the_seal_gets(notes: Path, tmp_path: Path) -> None:
    services = open_services(notes, tmp_path / "state", "scripted")
    full = request_for(services, tmp_path)
    definition, data = full.definition, shipped()
    assert list(definition.tools) == data["tools"] and definition.max_turns == data["max_turns"]
    assert definition.max_tokens == data["max_tokens"] == 16384  # room to think, then answer
    assert definition.output == data["output"] == "submit_verdict"
    prompt = (validators_dir() / data["prompt"]).read_text()
    commands = services.settings.config.commands.model_dump(mode="json")
    rendered = services.templates.render(definition.template, commands=commands)
    assert full.instructions.strip() == rendered.strip()
    # how the app runs under validation, the statement triage writes its criteria for
    assert "no network" in full.instructions and "python3 app.py --port <port>" in rendered
    assert full.instructions.splitlines()[0] == prompt.splitlines()[0]
    assert full.question == question(services) and full.budget_usd == 5.0
    # what the seal reads back is exactly what was built
    assert type(full).model_validate_json(full.model_dump_json()) == full


def test_an_override_on_production_narrows_what_the_seal_gets(notes: Path, tmp_path: Path) -> None:
    tools = [t for t in shipped()["tools"] if t != DROPPED]
    prompt = notes / ".factory/validators/prompts/strict.md.j2"
    prompt.parent.mkdir(parents=True)
    prompt.write_text("Judge {{ 'strictly' }}: every criterion, seen with your own eyes.\n")
    git(notes, "add", "-f", str(prompt))
    override_with(notes, max_turns=2, tools=tools, budget_usd=0.5, prompt="prompts/strict.md.j2")
    services = open_services(notes, tmp_path / "state", "scripted")
    full = request_for(services, tmp_path)
    definition = full.definition
    assert list(definition.tools) == tools and definition.max_turns == 2
    assert full.instructions == "Judge strictly: every criterion, seen with your own eyes.\n"
    assert full.budget_usd == 0.5  # the lower of the definition's cap and what is left
    assert definition.timeout_s == shipped().get("timeout_s", 900)


def test_an_override_not_on_production_is_not_used(notes: Path, tmp_path: Path) -> None:
    path = notes / OVERRIDE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({**shipped(), "max_turns": 2}))  # not committed
    services = open_services(notes, tmp_path / "state", "scripted")
    full = request_for(services, tmp_path, "http://x")
    assert full.definition.max_turns == shipped()["max_turns"]


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_the_sealed_validator_runs_with_the_overrides_turns_and_tools(
    notes: Path, tmp_path: Path, app: AppProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = [t for t in shipped()["tools"] if t != DROPPED]
    override_with(notes, max_turns=2, tools=tools, max_tokens=12000)
    # a validator that looks forever and never answers: the turn limit ends it
    looks = [[{"tool": "browser_snapshot", "input": {}}]] * 6
    rule = Rule.model_validate({"output": "submit_verdict", "turns": looks})
    with AnthropicStandIn(responder=ScriptedModel([rule])) as standin:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", standin.url)
        services = open_services(notes, tmp_path / "state", "anthropic")
        hooks = Recorded()
        answer = run_validator(services, question(services), 5.0, app, tmp_path / "shots", hooks)
    assert answer.error and answer.output is None, answer
    assert "used all 2 turns" in str(answer.message), answer
    bodies = [b for _, b in standin.received if role_of(b) == "validator"]
    assert len(bodies) == 2 == len(hooks.calls)  # each answered, and recorded, by the harness
    assert all(call.cost_usd > 0 for call in hooks.calls)  # priced as the real API's
    for body in bodies:
        assert [t["name"] for t in body["tools"]] == [*tools, "submit_verdict"]
        assert body["max_tokens"] == 12000  # the definition's output limit reaches the call


def test_factory_check_refuses_an_invalid_override(
    notes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = notes / OVERRIDE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({**shipped(), "max_turns": 0}))
    res = run_cli(capsys, "--repo", str(notes), "check")
    assert res.code == 2, (res.out, res.err)
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.out + res.err
    assert f"{OVERRIDE}: max_turns:" in lines[0], lines[0]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"tools": ["browser_snapshot", "run_command"]}, "tools: a sealed validator has browser"),
        ({"tools": ["browser_fly"]}, "tools: unknown tools ['browser_fly']"),
        ({"colour": "blue"}, "colour: unknown key"),
        ({"prompt": "../../etc/passwd"}, "prompt: '../../etc/passwd' must be a path inside"),
        ({"prompt": "prompts/mine.md.j2"}, "prompt: 'prompts/mine.md.j2' is neither shipped"),
        ({"output": "submit_review"}, "output: must be 'submit_verdict'"),
        ({"may_only_lower_score": False}, "may_only_lower_score: must be True"),
        ({"rubric": ["Be kind."]}, "rubric: unknown key"),
    ],
)
def test_factory_check_names_the_broken_key_of_a_committed_override(
    notes: Path, capsys: pytest.CaptureFixture[str], change: dict, expected: str
) -> None:
    override_with(notes, **change)
    res = run_cli(capsys, "--repo", str(notes), "check")
    assert res.code == 2, (res.out, res.err)
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, lines
    assert f"{OVERRIDE}: {expected}" in lines[0], lines[0]


def test_a_valid_override_passes_factory_check(
    notes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompt = notes / ".factory/validators/prompts/mine.md.j2"
    prompt.parent.mkdir(parents=True)
    prompt.write_text("You judge the app as a careful user would.\n")
    git(notes, "add", "-f", str(prompt))
    override_with(notes, max_turns=5, prompt="prompts/mine.md.j2")
    res = run_cli(capsys, "--repo", str(notes), "check")
    assert res.code == 0, res.err
    assert f"note: {OVERRIDE}: overrides validators/sealed_browser.yaml" in res.out


def test_the_reviewers_rubric_comes_from_its_override(notes: Path, tmp_path: Path) -> None:
    from harness.engine.definition import ReviewerDefinition, role_definition

    path = notes / ".factory/validators/reviewer.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load((validators_dir() / "reviewer.yaml").read_text())
    path.write_text(yaml.safe_dump({**data, "rubric": ["Every page keeps its heading."]}))
    git(notes, "add", "-f", str(path))
    git(notes, "commit", "-qm", "our own rubric")
    services = open_services(notes, tmp_path / "state", "scripted")
    definition = role_definition(services, "reviewer")
    assert isinstance(definition, ReviewerDefinition)
    assert list(definition.rubric) == ["Every page keeps its heading."]
    assert role_definition(services, "implementer") is None
    rendered = services.templates.render("validators/prompts/review.md.j2", definition=definition)
    assert "Every page keeps its heading." in rendered


def test_the_shipped_definitions_are_valid() -> None:
    from harness.engine.definition import (
        ReviewerDefinition,
        ValidatorDefinition,
        parse_validator,
    )

    parsed = {
        p.stem: parse_validator(p.read_text(), f"validators/{p.name}")
        for p in validators_dir().glob("*.yaml")
    }
    assert isinstance(parsed["sealed_browser"], ValidatorDefinition)
    assert isinstance(parsed["reviewer"], ReviewerDefinition)


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_the_sealed_validator_confirms_a_feed_link_and_its_content_type(
    notes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a fresh app it never saw the code of: the head's alternate link, then the feed it
    points to, read through the seal's own tools; what it was shown is what its verdict
    cites."""
    from tests.browser.test_page_eyes import APP

    served_from = tmp_path / "bookmarks"
    served_from.mkdir()
    (served_from / "app.py").write_text(APP)
    verdict = {
        "verdict": "pass",
        "score": 0.9,
        "summary": "The page links its RSS feed, which is served as RSS.",
        "criteria": [
            {
                "criterion": "C1",
                "result": "pass",
                "observations": [1],
                "evidence": "browser_head: link rel=alternate type=application/rss+xml",
                "quote": "rel='alternate' type='application/rss+xml'",
            },
            {
                "criterion": "C2",
                "result": "pass",
                "observations": [2],
                "evidence": "browser_fetch /feed.xml: HTTP 200, application/rss+xml",
                "quote": "content-type: application/rss+xml",
            },
        ],
        "regressions": [],
    }
    turns = [
        [{"tool": "browser_head", "input": {}}],
        [{"tool": "browser_fetch", "input": {"url": "/feed.xml"}}],
        [{"tool": "browser_request", "input": {"url": "/feed.xml", "method": "HEAD"}}],
        [{"tool": "browser_fetch", "input": {"url": "/settings"}}],  # longer than one answer
        [{"tool": "browser_fetch", "input": {"url": "/settings", "offset": 12000}}],
        [{"tool": "submit_verdict", "input": verdict}],
    ]
    rule = Rule.model_validate({"output": "submit_verdict", "turns": turns})
    port = free_port()
    with (
        AppProcess(Sandbox(served_from), f"python3 app.py --port {port}", port) as app,
        AnthropicStandIn(responder=ScriptedModel([rule])) as standin,
    ):
        app.wait_ready(30)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", standin.url)
        services = open_services(notes, tmp_path / "state", "anthropic")
        asked = question(services, "a feed link in the head", "the feed's content type")
        answer = run_validator(services, asked, 5.0, app, tmp_path / "shots", Recorded())
    assert answer.output is not None and answer.output.verdict == "pass", answer
    assert not answer.sent_back  # each criterion rests on an observation that showed it
    shown = json.dumps([b["messages"] for _, b in standin.received if role_of(b) == "validator"])
    assert "rel='alternate'" in shown and "href='/feed.xml'" in shown
    assert "content-type: application/rss+xml" in shown and "x-served-by: bookmarks" in shown
    assert "<rss version=" in shown and "Bookmarks\\\\x07" in shown  # shown, not sent as is
    # the app has no HEAD; nothing but what the validator asked for was sent
    assert "/feed.xml -> HTTP 501 Unsupported method ('HEAD')" in shown
    assert "sent: headers none; the browser session's cookies not sent" in shown
    # a long body is cut at its true cap, and the offset reads on
    said = "[cut at 12,000 characters: browser_fetch with offset 12000 reads on]"
    assert said in shown and "[characters 12,000 to " in shown
    assert [(o.number, o.tool, o.status) for o in answer.observed] == [
        (1, "browser_head", None),
        (2, "browser_fetch", 200),
        (3, "browser_request", 501),
        (4, "browser_fetch", 200),
        (5, "browser_fetch", 200),
    ]
    # each observation keeps all the validator was shown: a quote is looked for in all of it
    assert (
        "Enable preview images" in shown and "Enable preview images" in answer.observed[4].excerpt
    )


_LOOK_THEN_PASS = {
    "output": "submit_verdict",
    "turns": [
        [{"tool": "browser_snapshot", "input": {}}],
        [
            {
                "tool": "submit_verdict",
                "input": {
                    "verdict": "pass",
                    "score": 0.9,
                    "summary": "The home page shows the heading Notes.",
                    "criteria": [
                        {
                            "criterion": "C1",
                            "result": "pass",
                            "observations": [1],
                            "evidence": "browser_snapshot: heading Notes",
                            "quote": 'heading "Notes"',
                        }
                    ],
                    "regressions": [],
                },
            }
        ],
    ],
}


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_the_validators_first_question_is_with_the_model_while_its_browser_starts(
    notes: Path, tmp_path: Path, app: AppProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seal asks its first question before it starts its browser (that request does not
    depend on the page), so the model's answer and the browser's start overlap: here the
    harness holds the browser's launch until the model has been asked (a seal that starts its
    browser first would wait out the guard). What the validator does with its first answer
    is still done on the home page, opened first."""
    asked = threading.Event()  # set as the validator's first request arrives
    model = Watching(ScriptedModel([Rule.model_validate(_LOOK_THEN_PASS)]), lambda *_: asked.set())
    launched_after_asking: list[bool] = []
    spawn = Launcher.spawn

    def held(launcher: Launcher, args: list[str], fds: list[int]) -> Any:
        launched_after_asking.append(asked.wait(timeout=60))  # a guard, not a timing
        return spawn(launcher, args, fds)

    monkeypatch.setattr(Launcher, "spawn", held)
    with AnthropicStandIn(responder=model) as standin:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", standin.url)
        services = open_services(notes, tmp_path / "state", "anthropic")
        heading = question(services, "the heading Notes")
        answer = run_validator(services, heading, 5.0, app, tmp_path / "shots", Recorded())
    assert launched_after_asking == [True], launched_after_asking
    assert answer.output is not None and answer.output.verdict == "pass", answer
    (snapshot,) = [o for o in answer.observed if o.tool == "browser_snapshot"]
    assert not snapshot.error and "Notes" in snapshot.excerpt, snapshot
    assert len([b for _, b in standin.received if role_of(b) == "validator"]) == 2
