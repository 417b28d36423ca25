"""``factory mcp`` through the MCP SDK's own client, over the SDK's in-memory transport from
the server ``factory mcp`` serves (the same JSON-RPC messages), and as a process of its own
whose standard streams carry a raw exchange: the tools are listed, status and a run's report read, an issue
filed (by MCP's own author, never a trusted one); approve is refused until a maintainer
commits ``mcp: {decisions: true}``, and then recorded in the audit trail as a person's
decision, through MCP, answered as the landing starts; hosts see each tool's annotations and
the package's version, and bad calls get JSON-RPC errors, stderr staying quiet."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from harness.artifacts import Smoke
from harness.cli.common import state_dir
from harness.engine.actions import action
from harness.engine.context import StepContext
from harness.forge.local import LocalForge
from harness.git.repo import GitRepo
from harness.store.base import utc_now
from harness.store.db import Store
from tests.checks_passed import CHECKS_PASSED, analysers_find_nothing, smoked
from tests.cli_helpers import run_cli, use_actions
from tests.factory_repo import RULES, git, make_factory_repo

if TYPE_CHECKING:  # the SDK is imported by the tests that run it, not by every worker's collection
    from mcp import Client

FACTORY = str(Path(sys.executable).with_name("factory"))
TOOLS = {
    "status",
    "queue",
    "runs",
    "report",
    "diff",
    "backtest_summary",
    "checks",
    "file_issue",
    "approve",
    "reject",
    "cancel",
}


def _text(result: Any) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


def _data(result: Any) -> Any:
    assert not result.is_error, _text(result)
    data = result.structured_content
    return data["result"] if isinstance(data, dict) and set(data) == {"result"} else data


def test_an_mcp_client_session(tmp_path: Path, capsys) -> None:
    """A session of every kind of tool (the standard streams are crossed by the raw
    exchange below)."""
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

    async def session(client: Client) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        seen["tools"] = {t.name for t in (await client.list_tools()).tools}
        seen["status"] = _data(await client.call_tool("status", {}))
        seen["runs"] = _data(await client.call_tool("runs", {"limit": 5}))
        seen["report"] = _data(await client.call_tool("report", {"run_id": triage.id}))
        args = {"title": "Show a note count", "body": "Under the heading."}
        seen["filed"] = _data(await client.call_tool("file_issue", args))
        seen["refused"] = await client.call_tool("approve", {"issue": 1})
        enable_decisions()
        seen["approved"] = await client.call_tool("approve", {"issue": 1})
        forge = LocalForge(Store.open(state_dir(repo)), GitRepo(repo))
        forge.add_labels(2, ["factory:accepted"])  # as triage accepts it
        seen["cancelled"] = await client.call_tool("cancel", {"issue": 2, "reason": "Later"})
        resources = await client.list_resources()
        seen["resources"] = {str(r.uri) for r in resources.resources}
        mission = await client.read_resource("factory://governance/mission.md")
        seen["mission"] = mission.contents[0].text  # type: ignore[union-attr]
        return seen

    seen = _in_process(repo, session)
    assert seen["tools"] == TOOLS
    assert seen["status"]["stopped"] is False and "autonomy_index" in seen["status"]
    assert [r["id"] for r in seen["runs"]] == [triage.id]
    report = seen["report"]
    assert report["id"] == triage.id and report["workflow"] == "triage" and report["steps"]
    assert seen["filed"]["number"] == 2 and seen["filed"]["title"] == "Show a note count"
    assert seen["filed"]["author"] == "mcp"
    refused = seen["refused"]
    assert refused.is_error and "mcp: {decisions: true}" in _text(refused)
    assert not seen["approved"].is_error, _text(seen["approved"])
    assert "approved by" in _text(seen["approved"])
    # a person, through MCP, stops the factory's work on the accepted issue
    assert not seen["cancelled"].is_error and "cancelled by" in _text(seen["cancelled"])
    (cancel,) = Store.open(state_dir(repo)).events(kind="human.cancel", issue=2)
    assert (cancel.data["via"], cancel.data["reason"]) == ("mcp", "Later")
    events = Store.open(state_dir(repo)).events(kind="human.approve", issue=1)
    assert len(events) == 1  # the refused call recorded nothing
    assert events[0].data["via"] == "mcp" and events[0].data["label"] == "factory:needs-human"
    assert seen["resources"] == {
        f"factory://governance/{n}" for n in ("mission.md", "factory_rules.md", "CLAUDE.md")
    } | {"factory://governance/factory.yaml"}
    assert seen["mission"] == (repo / "mission.md").read_text()
    shown = json.loads(run_cli(capsys, *cli, "issue", "show", "2", "--json").out)
    assert shown["title"] == "Show a note count"


def _in_process(repo: Path, work: Any) -> Any:
    """``work(client)`` in an SDK client session with the server ``factory mcp`` serves on
    ``repo``, in this process (the SDK's in-memory transport: the same JSON-RPC messages,
    not over standard streams, which the raw exchange below crosses); an approval still
    landing ends before this returns, as before ``factory mcp`` exits."""
    from mcp import Client

    from harness.cli.common import Target
    from harness.cli.mcp import server
    from harness.cli.mcp_face import Face

    face = Face(Target(repo, state_dir(repo), None, None))

    async def session() -> Any:
        async with Client(server(face)) as client:
            return await work(client)

    try:
        return asyncio.run(session())
    finally:
        for landing in face.landings:
            landing.join()


def test_hosts_see_annotations_and_a_version_and_bad_calls_get_protocol_errors(
    tmp_path: Path,
) -> None:
    from mcp.shared.exceptions import MCPError
    from mcp.types import INVALID_PARAMS

    repo = make_factory_repo(tmp_path / "repo")

    async def work(client: Client) -> dict[str, Any]:
        tools = {t.name: t.annotations for t in (await client.list_tools()).tools}
        refused = {}
        for name, args in (
            ("runs", {"limit": -1}),
            ("diff", {"issue": "one"}),
            ("nosuch", {}),
            ("queue", {"lmit": 5}),
        ):
            with pytest.raises(MCPError) as raised:
                await client.call_tool(name, args)
            refused[name] = raised.value.error
        with pytest.raises(MCPError) as raised:  # a misspelt argument is never dropped silently
            await client.call_tool("runs", {"lmit": 5})
        refused["runs lmit"] = raised.value.error
        return {
            "tools": tools,
            "version": client.server_info.version if client.server_info else None,
            "queue": await client.call_tool("queue", {}),
            "refused": refused,
            "missing": await client.call_tool("diff", {"issue": 99}),
        }

    seen = _in_process(repo, work)
    assert seen["version"] == version("dark-factory-harness")
    hints = {
        name: (a.read_only_hint, a.destructive_hint, a.open_world_hint)
        for name, a in seen["tools"].items()
    }
    for name in ("status", "queue", "runs", "report", "diff", "backtest_summary", "checks"):
        assert hints[name] == (True, False, False), name
    assert hints["file_issue"] == (False, False, False)
    assert hints["approve"] == hints["reject"] == hints["cancel"] == (False, True, True)
    assert seen["tools"]["cancel"].idempotent_hint
    empty = seen["queue"]
    assert not empty.is_error and json.loads(_text(empty)) == []  # content, even for nothing
    refused = seen["refused"]
    assert {e.code for e in refused.values()} == {INVALID_PARAMS}
    assert refused["runs"].message == "runs: limit: must be greater than or equal to 1"
    assert refused["diff"].message.startswith("diff: issue: must be a valid integer")
    assert "pydantic" not in refused["diff"].message and "http" not in refused["diff"].message
    assert refused["nosuch"].message == "no tool named 'nosuch'"
    assert refused["queue"].message == "queue: no argument named 'lmit' (it takes: none)"
    assert refused["runs lmit"].message == "runs: no argument named 'lmit' (it takes: limit)"
    missing = seen["missing"]
    assert missing.is_error and "no such issue: the factory knows no issue 99" in _text(missing)


def test_a_request_whose_params_is_not_an_object_is_answered_and_stderr_stays_quiet(
    tmp_path: Path,
) -> None:
    """What no SDK client sends: a raw JSON-RPC exchange over the server's standard streams."""
    from mcp.types import INVALID_PARAMS

    repo = make_factory_repo(tmp_path / "repo")
    hello = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    }
    lines = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": ["runs", {"limit": 1}]},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "runs", "arguments": {"limit": 0}},
        },
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "tools/call",
            "params": {"name": "approve", "arguments": {"issue": 1}},
        },
    ]
    server = subprocess.Popen(
        [FACTORY, "--repo", str(repo), "mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    answers = {}
    for line in lines:  # each answered before the next is sent, as a client waits
        server.stdin.write(json.dumps(line) + "\n")
        server.stdin.flush()
        if "id" in line:
            answer = json.loads(server.stdout.readline())
            answers[answer["id"]] = answer
    _, stderr = server.communicate(timeout=120)
    assert set(answers) == {1, 2, 3, 4}
    assert answers[2]["error"]["code"] == INVALID_PARAMS
    assert answers[3]["error"]["code"] == INVALID_PARAMS
    assert answers[4]["result"]["isError"]  # a refusal of the factory's: the tool's answer
    assert stderr == ""  # no log of each refused call


def test_an_issue_filed_through_mcp_is_not_trusted_when_the_maintainer_is(
    tmp_path: Path, capsys
) -> None:
    """The maintainer (and "mcp" too) listed in trusted_authors, a daily limit of one: the
    maintainer's issues are all triaged, MCP's second waits for a later day."""
    from harness.forge.base import default_author

    maintainer = default_author()
    rules = RULES.replace(
        "max_issues_per_author_per_day: 3, trusted_authors: [owner]",
        f"max_issues_per_author_per_day: 1, trusted_authors: [{maintainer}, mcp]",
    )
    repo = make_factory_repo(tmp_path / "repo", rules=rules)
    cli = ("--repo", str(repo))
    for n in (1, 2):
        run_cli(capsys, *cli, "issue", "new", "--title", f"Mine {n}", "--body", "Please.")

    async def work(client: Client) -> list[Any]:
        return [
            _data(await client.call_tool("file_issue", {"title": f"Agent's {n}", "body": "Do."}))
            for n in (1, 2)
        ]

    filed = _in_process(repo, work)
    assert [i["author"] for i in filed] == ["mcp", "mcp"]
    triaged = run_cli(capsys, *cli, "triage", "--json").json()
    decided = {row["issue"]: row["decision"] for row in triaged}
    assert decided[1] != "deferred" and decided[2] != "deferred"  # the maintainer's
    assert decided[3] != "deferred" and decided[4] == "deferred"  # MCP's


def test_approve_answers_as_the_landing_starts_and_the_change_still_lands(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change waiting for review (trust starts at review), approved through MCP: the answer
    comes when validation starts, in the session, and the session then sees it land. The
    checks both validations wait for stand in passed (``tests/checks_passed.py``: what is
    judged here is MCP's answer and the landing it starts; an approval's validation runs for
    real in the trust story, ``tests/review/conftest.py``), the smoke run after the merge not
    before the session has read the answer's time: the landing cannot end first. The security
    gate's analysers stand in as finding nothing in the change (they run for real in
    ``tests/implement/test_security_gate.py``)."""
    from harness.demo import generate

    answer_read = threading.Event()

    @action("validate.smoke")
    def smoked_once_answered(ctx: StepContext) -> Smoke:
        answer_read.wait(60)  # a guard: an answer that waits for the landing never comes first
        return smoked(ctx)

    use_actions(monkeypatch, *CHECKS_PASSED, smoked_once_answered)
    analysers_find_nothing(monkeypatch)  # the security gate's: the change adds no finding
    repo, _, _ = generate(tmp_path)
    rules = repo / "factory_rules.md"
    rules.write_text(
        rules.read_text().replace("---\n", "---\ntrust: {default: {start: review}}\n", 1)
    )
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    (repo / "factory.yaml").write_text(yaml.safe_dump({**config, "mcp": {"decisions": True}}))
    git(repo, "commit", "-qam", "Every change waits for a person; MCP may decide")
    cli = ("--repo", str(repo))
    title = "Show how many notes there are"
    run_cli(
        capsys, *cli, "issue", "new", "--title", title, "--body", "'N notes'.", "--author", "owner"
    )
    run_cli(capsys, *cli, "run", "--once")
    waiting = json.loads(run_cli(capsys, *cli, "issue", "show", "1", "--json").out)
    assert "factory:needs-review" in waiting["labels"]

    before = {r.id for r in Store.open(state_dir(repo)).list_runs(limit=None)}

    async def work(client: Client) -> tuple[str, str, list[dict[str, Any]]]:
        said = _text(await client.call_tool("approve", {"issue": 1}))
        answered = utc_now()  # the answer's time is a bench's (benchmarks/mcp_approve.py)
        answer_read.set()
        ended: list[dict[str, Any]] = []
        for _ in range(1200):  # a guard against a landing that never ends, not a timing
            runs = _data(await client.call_tool("runs", {"limit": 5}))
            ended = [r for r in runs if r["id"] not in before and r["status"] != "running"]
            if ended:
                break
            await asyncio.sleep(0.5)
        return said, answered, ended

    said, answered, ended = _in_process(repo, work)
    assert "validating PR" in said and "`runs` shows when it ends" in said
    assert [(r["workflow"], r["outcome"]) for r in ended] == [("validate", "merged")]
    assert ended[0]["finished_at"] > answered  # answered before the landing finished
    landed = json.loads(run_cli(capsys, *cli, "issue", "show", "1", "--json").out)
    assert "factory:merged" in landed["labels"]
