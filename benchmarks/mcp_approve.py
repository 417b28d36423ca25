"""Approve through MCP (issue 65): how soon a host's ``approve`` call is answered, through the
official ``mcp`` SDK client and ``factory mcp`` over stdio, on the demo with a change waiting
for review; the landing it starts is waited for, and must merge."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.figures import Figure
from harness.git.repo import GitRepo

GOAL_S = 2.0  # an agent host's call answered, not held for the whole validation
FACTORY = str(Path(sys.executable).with_name("factory"))


def _waiting_for_review(root: Path) -> Path:
    """The demo, every change waiting for a person, MCP allowed to decide, issue 1 run
    until its pull request waits for review."""
    from harness.cli import main
    from harness.demo import generate

    repo, _, _ = generate(root)
    rules = repo / "factory_rules.md"
    text = rules.read_text().replace("---\n", "---\ntrust: {default: {start: review}}\n", 1)
    rules.write_text(text)
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    (repo / "factory.yaml").write_text(yaml.safe_dump({**config, "mcp": {"decisions": True}}))
    GitRepo(repo).commit_all("Every change waits for a person; MCP may decide")
    title = ("--title", "Show how many notes there are", "--body", "'N notes'.")
    for args in (("issue", "new", *title, "--author", "owner"), ("run", "--once")):
        with contextlib.suppress(SystemExit):  # run: 1 while a change waits for a person
            main(["--repo", str(repo), *args])
    return repo


async def _approved(repo: Path) -> tuple[float, float, str, str]:
    """Seconds to the answer of ``approve``, seconds to the landing's end, the answer, and
    the landing run's outcome."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(
        command=FACTORY, args=["--repo", str(repo), "mcp"], env=dict(os.environ), cwd=str(repo)
    )
    async with Client(params) as client:
        before = {r["id"] for r in await _runs(client)}  # the server up, its state open
        started = time.monotonic()
        answer = await client.call_tool("approve", {"issue": 1})
        answered = time.monotonic() - started
        said = "".join(getattr(block, "text", "") for block in answer.content)
        while True:
            runs = await _runs(client)
            validated = [r for r in runs if r["workflow"] == "validate" and r["id"] not in before]
            if validated and validated[0]["status"] != "running":
                return answered, time.monotonic() - started, said, str(validated[0]["outcome"])
            await asyncio.sleep(0.2)


async def _runs(client: Any) -> list[dict[str, Any]]:
    answer = await client.call_tool("runs")
    runs: list[dict[str, Any]] = json.loads("".join(getattr(b, "text", "") for b in answer.content))
    return runs


def approve_figure() -> Figure:
    with tempfile.TemporaryDirectory(prefix="bench-approve-") as root:
        saved = {
            k: os.environ.pop(k)
            for k in ("ANTHROPIC_API_KEY", "FACTORY_STATE_DIR")
            if k in os.environ
        }
        try:
            repo = _waiting_for_review(Path(root))
            answered, landed, said, outcome = asyncio.run(_approved(repo))
        finally:
            os.environ.update(saved)
    if outcome != "merged":
        raise RuntimeError(f"the approved change did not land: {outcome}; said {said!r}")
    return Figure(
        "MCP approve answered",
        f"{answered:.2f} s",
        f"≤ {GOAL_S:.0f} s",
        GOAL_S / max(answered, 0.001),
        f"wall, through the `mcp` SDK's client and `factory mcp` over stdio; the landing it "
        f"started merged {landed:.1f} s after the call",
    )
