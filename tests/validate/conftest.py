"""The demo's notes app as a target repository, wired to the stand-in Messages API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.demo import generate
from harness.model.scripted import ScriptedModel, load_script
from tests.cli_helpers import run_cli
from tests.factory_repo import git
from tests.standins.anthropic_standin import AnthropicStandIn

KEY = "sk-ant-validate-CANARY-0badc0ffee1234"
IMPL_CANARY = "IMPL-CANARY-7d41c2"
HOLDOUT_CANARY = "HOLDOUT-CANARY-93ab5e"
ISSUES = [
    ("owner", "Show how many notes there are", "Show 'N notes' under the heading."),
    ("owner", "Empty notes are silently accepted when they contain only tabs", "Refuse them."),
    ("owner", "Rename the Add button to Save", "Save reads better."),
]


def script_rules(extra: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    from harness.paths import workflows_dir

    rules: list[dict[str, Any]] = yaml.safe_load(
        (workflows_dir() / "demo" / "script.yaml").read_text()
    )
    return [*(extra or []), *rules]


def accept_rule(title: str, reason: str, kind: str = "chore") -> dict[str, Any]:
    """A scripted triage that accepts the issue titled ``title``."""
    return {
        "output": "submit_triage",
        "match": title,
        "turns": [
            [
                {
                    "tool": "submit_triage",
                    "input": {
                        "decision": "accept",
                        "priority": "p2",
                        "kind": kind,
                        "rule": "mission.md: Capabilities",
                        "reason": reason,
                        "acceptance_criteria": ["The home page still lists the notes."],
                    },
                }
            ]
        ],
    }


@pytest.fixture
def app(tmp_path: Path) -> tuple[Path, Path]:
    """(repo, hold-out) with canaries planted in the implementation and in the hold-out."""
    repo, _, _ = generate(tmp_path)
    (repo / "app.py").write_text((repo / "app.py").read_text() + f"\n# {IMPL_CANARY}\n")
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["provider"] = {"type": "anthropic", "max_retry_wait_s": 5}
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "commit", "-qam", "wired to the real API")
    holdout = tmp_path / "notes-holdout"
    (holdout / "journeys" / "title.yaml").write_text(
        f"name: the page is titled Notes {HOLDOUT_CANARY}\nsteps:\n  - goto: /\n  - expect_text: Notes\n"
    )
    return repo, holdout


def serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra=None
) -> Iterator[AnthropicStandIn]:
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump(script_rules(extra)))
    with AnthropicStandIn(responder=ScriptedModel(load_script(path))) as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicStandIn]:
    yield from serve(tmp_path, monkeypatch)


def file_issues(capsys, repo: Path, which: list[int] | None = None) -> None:
    for i, (author, title, body) in enumerate(ISSUES, start=1):
        if which is None or i in which:
            res = run_cli(
                capsys,
                "--repo",
                str(repo),
                "issue",
                "new",
                "--title",
                title,
                "--body",
                body,
                "--author",
                author,
            )
            assert res.code == 0, res.err


def role_of(body: dict[str, Any]) -> str:
    names = {t["name"] for t in body.get("tools", [])}
    for tool, role in (
        ("submit_verdict", "validator"),
        ("submit_plan", "planner"),
        ("finish", "implementer"),
        ("submit_review", "reviewer"),
        ("submit_triage", "triage"),
    ):
        if tool in names:
            return role
    return "unknown"
