"""A target repository with a Python app and tests, wired to the stand-in Messages API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.artifacts import PrCandidate, Validation
from harness.forge.base import Label, set_state
from harness.model.scripted import ScriptedModel, load_script
from harness.services import open_services
from harness.store.db import Store
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


def conflict_retry(store: Store, repo: Path, number: int, conflict: str) -> PrCandidate:
    """What validation's retry route does with a change that no longer merges with production
    (as ``validate.decide`` records it): its decision, its pull request closed, the issue
    accepted again. The change's candidate, as implement recorded it."""
    ((_, candidate),) = store.artifacts(PrCandidate, number)
    decided = Validation(
        route="retry",
        reason=conflict,
        score=0.95,
        verdict="pass",
        gates=[],
        fix_attempts=0,
        implement_run=candidate.implement_run,
        pr=candidate.pr,
        conflict=conflict,
    )
    validated = store.create_run("validate", number, {}, {})
    seq = store.start_step(validated.id, "decide", {})
    store.finish_step(seq, "succeeded", decided.model_dump(mode="json"), artifact="Validation")
    store.set_run_status(validated.id, "succeeded")
    forge = open_services(repo, store.path.parent).forge
    forge.close_pr(candidate.pr)
    set_state(forge, number, Label.ACCEPTED)
    return candidate
