"""factory.yaml's per-role thinking and effort reach the requests a real run sends."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.factory_repo import make_factory_repo


def test_thinking_and_effort_from_factory_yaml_reach_the_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], anthropic_env
) -> None:
    repo = make_factory_repo(
        tmp_path / "notes",
        provider={"type": "anthropic"},
        config={"thinking": {"triage": "adaptive"}, "effort": {"triage": "low"}},
    )
    args = ["--repo", str(repo), "issue", "new", "--title", "Add a dark mode toggle"]
    res = run_cli(capsys, *args, "--body", "Please add a dark mode.", "--author", "owner")
    assert res.code == 0, res.err
    res = run_cli(capsys, "--repo", str(repo), "triage", "--json")
    assert res.code == 0, res.err
    (body,) = [b for _, b in anthropic_env.received]
    assert body["model"] == "claude-haiku-5-5"
    assert body["thinking"] == {"type": "adaptive"} and body["output_config"] == {"effort": "low"}
    assert anthropic_env.violations == []
