"""``factory mcp`` through the MCP SDK's own client, which starts the server as a subprocess
and speaks to it over stdio: the tools are listed, status and a run's report read, an issue
filed; approve is refused until a maintainer commits ``mcp: {decisions: true}``, and then
recorded in the audit trail as a person's decision, through MCP."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from harness.cli.common import state_dir
from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.factory_repo import git, make_factory_repo

FACTORY = str(Path(sys.executable).with_name("factory"))
TOOLS = {
    "status",
    "queue",
    "runs",
    "report",
    "diff",
    "backtest_summary",
    "file_issue",
    "approve",
    "reject",
}


def _text(result: Any) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


def _data(result: Any) -> Any:
    assert not result.is_error, _text(result)
    data = result.structured_content
    return data["result"] if isinstance(data, dict) and set(data) == {"result"} else data


def test_an_mcp_client_session(tmp_path: Path, capsys) -> None:
    repo = make_factory_repo(tmp_path / "repo")
    cli = ("--repo", str(repo))
    assert (
        run_cli(capsys, *cli, "issue", "new", "--title", "Dark mode", "--body", "Please.").code == 0
    )
    assert run_cli(capsys, *cli, "triage").code in (0, 1)
    (triage,) = Store.open(state_dir(repo)).list_runs(limit=None)
    run_cli(capsys, *cli, "issue", "label", "1", "factory:needs-human")

    def enable_decisions() -> None:
        config = yaml.safe_load((repo / "factory.yaml").read_text())
        (repo / "factory.yaml").write_text(yaml.safe_dump({**config, "mcp": {"decisions": True}}))
        git(repo, "commit", "-qam", "MCP may decide")

    async def session() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        params = StdioServerParameters(
            command=FACTORY, args=[*cli, "mcp"], env=dict(os.environ), cwd=str(repo)
        )
        async with Client(params) as client:
            seen["tools"] = {t.name for t in (await client.list_tools()).tools}
            seen["status"] = _data(await client.call_tool("status", {}))
            seen["runs"] = _data(await client.call_tool("runs", {"limit": 5}))
            seen["report"] = _data(await client.call_tool("report", {"run_id": triage.id}))
            args = {"title": "Show a note count", "body": "Under the heading."}
            seen["filed"] = _data(await client.call_tool("file_issue", args))
            seen["refused"] = await client.call_tool("approve", {"issue": 1})
            enable_decisions()
            seen["approved"] = await client.call_tool("approve", {"issue": 1})
            resources = await client.list_resources()
            seen["resources"] = {str(r.uri) for r in resources.resources}
            mission = await client.read_resource("factory://governance/mission.md")
            seen["mission"] = mission.contents[0].text  # type: ignore[union-attr]
        return seen

    seen = asyncio.run(session())
    assert seen["tools"] == TOOLS
    assert seen["status"]["stopped"] is False and "autonomy_index" in seen["status"]
    assert [r["id"] for r in seen["runs"]] == [triage.id]
    report = seen["report"]
    assert report["id"] == triage.id and report["workflow"] == "triage" and report["steps"]
    assert seen["filed"]["number"] == 2 and seen["filed"]["title"] == "Show a note count"
    refused = seen["refused"]
    assert refused.is_error and "mcp: {decisions: true}" in _text(refused)
    assert not seen["approved"].is_error, _text(seen["approved"])
    assert "approved by" in _text(seen["approved"])
    events = Store.open(state_dir(repo)).events(kind="human.approve", issue=1)
    assert len(events) == 1  # the refused call recorded nothing
    assert events[0].data["via"] == "mcp" and events[0].data["label"] == "factory:needs-human"
    assert seen["resources"] == {
        f"factory://governance/{n}" for n in ("mission.md", "factory_rules.md", "CLAUDE.md")
    } | {"factory://governance/factory.yaml"}
    assert seen["mission"] == (repo / "mission.md").read_text()
    shown = json.loads(run_cli(capsys, *cli, "issue", "show", "2", "--json").out)
    assert shown["title"] == "Show a note count"
