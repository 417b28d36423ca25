"""A target repository with a Python app and tests, wired to the stand-in Messages API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.model.scripted import ScriptedModel, load_script
from tests.checks_passed import analysers_find_nothing
from tests.cli_helpers import Result, repo_cli
from tests.factory_repo import RULES, git, make_factory_repo
from tests.standins.anthropic_standin import AnthropicStandIn

SCRIPT = Path(__file__).parent / "script.yaml"
KEY = "sk-ant-implement-CANARY-f00dfeedbeef42"


def big_script(tmp_path: Path) -> Path:
    """The script with the oversized change made really oversized (600 lines)."""
    rules: list[dict[str, Any]] = yaml.safe_load(SCRIPT.read_text())
    for rule in rules:
        if rule.get("match") == "Refactor everything":
            rule["turns"][0][0]["input"]["content"] = "".join(f"X{i} = {i}\n" for i in range(600))
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump(rules))
    return path


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicStandIn]:
    with AnthropicStandIn(responder=ScriptedModel(load_script(big_script(tmp_path)))) as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server


def make_app_repo(
    tmp_path: Path,
    rules: str = RULES,
    commands: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> Path:
    repo = make_factory_repo(
        tmp_path / "app",
        provider={"type": "anthropic", "max_retry_wait_s": 5},
        config={
            "commands": {"test": "python3 -m unittest -q", **(commands or {})},
            **(config or {}),
        },
        rules=rules,
    )
    (repo / "test_app.py").write_text(
        "import unittest\n\n\nclass T(unittest.TestCase):\n    def test_ok(self):\n"
        "        self.assertTrue(True)\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "app tests")
    return repo


def accepted(cli: Callable[..., Result], title: str) -> int:
    """An issue the owner files, accepted by triage, through ``cli`` (``factory --repo REPO``
    and its arguments, in this process or one of its own)."""
    res = cli(
        "issue", "new", "--title", title, "--body", "Please do this.", "--author", "owner", "--json"
    )
    number = int(res.json()["number"])
    res = cli("triage", "--issue", str(number), "--json")
    assert res.code == 0 and res.json()[0]["decision"] == "accept", res.err
    return number


def accepted_issue(capsys: pytest.CaptureFixture[str], repo: Path, title: str) -> int:
    return accepted(repo_cli(capsys, repo), title)


@pytest.fixture
def analysers_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """The security gate's analysers stand in as having found nothing in the change
    (``analysers_find_nothing``, ``tests/checks_passed.py``), for a test whose subject is
    another gate or step: the gate itself (the dependencies, its evidence) runs. The analysers
    run for real in ``test_security_gate.py`` and through ``factory implement`` in the
    end-to-end tests (``greeted`` in ``test_implement.py``)."""
    analysers_find_nothing(monkeypatch)
