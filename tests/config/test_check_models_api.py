"""With an API key, ``factory check`` also reads the API's model list (the stand-in's)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.model.catalog import Listing
from harness.model.scripted import ScriptedModel
from tests.cli_helpers import run_cli
from tests.standins.anthropic_standin import AnthropicStandIn


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicStandIn]:
    with AnthropicStandIn(responder=ScriptedModel()) as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-check-models")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server


def test_check_reads_the_apis_model_list(inited: Path, capsys, api: AnthropicStandIn) -> None:
    res = run_cli(capsys, "--repo", str(inited), "check")
    assert res.code == 0, res.err
    assert (
        "note: models: the API lists" in res.out and "warning: factory.yaml: models" not in res.out
    )
    assert any(path.startswith("/v1/models") for _, path in api.received_get)

    api.models.pop("claude-haiku-5-5")
    api.models["claude-opus-5-5"] = Listing("claude-opus-5-5", "retired")
    res = run_cli(capsys, "--repo", str(inited), "check")
    assert res.code == 2
    assert "factory.yaml: models.reviewer: claude-opus-5-5 is retired" in res.err
    assert "models.triage: claude-haiku-5-5 is not in the API's model list" in res.out
