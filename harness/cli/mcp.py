"""``factory mcp``: the factory as an MCP server over stdio, on the official ``mcp`` SDK, for
Claude Code, Cursor and other agents (docs/mcp.md).

A thin face, like the command line and the dashboard: each tool calls what they call
(``status_data`` and ``report_data`` of ``factory status`` / ``report --json``, the store's
run rows, ``ready_to_implement``, ``change_diff``, the dashboard's ``backtest_view``, the
local forge, ``harness.review.decisions``) and answers what ``--json`` would print. Approve
and reject are a person's decisions: they act only when the production branch's
factory.yaml says ``mcp: {decisions: true}``, and the audit trail records them ``via: mcp``.
Each call opens the state afresh (the SDK runs a tool in a worker thread)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from harness.cli.common import provider_override, repo_root, state_dir
from harness.errors import FactoryError, UsageError

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from harness.engine.context import Services
    from harness.store.db import Store

GOVERNANCE = ("mission.md", "factory_rules.md", "CLAUDE.md", "factory.yaml")


@click.command()
@click.pass_context
def mcp(ctx: click.Context) -> None:
    """Serve the factory's status, queue, runs, reports, diffs and backtest as MCP tools over
    standard input and output (approve and reject with mcp.decisions: true)."""
    server(repo_root(ctx), provider_override(ctx)).run("stdio")


def server(root: Path, provider: str | None) -> MCPServer:
    from mcp.server.mcpserver import MCPServer

    face = _Face(root, provider)
    app: MCPServer = MCPServer("factory")
    for name in TOOLS + DECISIONS:
        app.add_tool(_answering(getattr(face, name)))
    for name in GOVERNANCE:  # as runs read them: committed on the production branch
        read = functools.partial(face.governance, name)
        app.resource(f"factory://governance/{name}", name=name, mime_type="text/plain")(read)
    return app


TOOLS = ("status", "queue", "runs", "report", "diff", "backtest_summary", "file_issue")
DECISIONS = ("approve", "reject")  # listed always; they act only with mcp.decisions: true


class _Face:
    """The tools, each a method over the repository at ``root``."""

    def __init__(self, root: Path, provider: str | None) -> None:
        self.root, self.provider = root, provider

    def store(self) -> closing[Store]:
        from harness.store.db import Store

        return closing(Store.open(state_dir(self.root)))

    @contextmanager
    def services(self) -> Iterator[Services]:
        from harness.services import open_services

        opened = open_services(self.root, state_dir(self.root), self.provider)
        with closing(opened.store):
            yield opened

    def status(self, window_days: int = 30) -> dict[str, Any]:
        """The kill switch, runs by status and outcome, spend, earned trust, Autonomy Index."""
        from harness.cli.state import status_data

        with self.store() as s:
            return status_data(self.root, s, window_days)

    def queue(self) -> list[int]:
        """The accepted issues ready to implement, in the order a run takes them."""
        from harness.cycle import ready_to_implement

        with self.services() as s:
            return ready_to_implement(s)

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest runs: workflow, issue, status, outcome, reason, cost, tokens."""
        with self.store() as s:
            return s.run_rows(s.list_runs(limit=max(1, min(limit, 1000))))

    def report(self, run_id: str) -> dict[str, Any]:
        """One run: its row, governance hashes, steps with outputs, and its issue's diff."""
        from harness.cli.state import report_data

        with self.store() as s:
            return report_data(self.root, s, run_id)[0]

    def diff(self, issue: int) -> str:
        """The change the factory's pull request for an issue holds, as a unified diff."""
        from harness.git.repo import GitRepo
        from harness.review.change import change_diff

        with self.store() as s:
            found = change_diff(s, GitRepo(self.root), issue)
        if found is None:
            raise UsageError(f"issue {issue} has no pull request from the factory")
        return found.shown()

    def backtest_summary(self) -> dict[str, Any]:
        """The newest `factory backtest`: its summary and a row per case (none: null)."""
        from harness.serve.backtest_page import backtest_view

        with self.services() as s:
            view = backtest_view(s)
        if view is None:
            return {"backtest": None}
        found = {"backtest": view.record.id, "status": view.record.status}
        return found | {"summary": view.summary, "cases": view.rows}

    def file_issue(self, title: str, body: str = "") -> dict[str, Any]:
        """File an issue on the local forge (on GitHub, people file them there)."""
        from harness.cli.issue import checked_issue
        from harness.forge.local import LocalForge, default_author

        with self.services() as s:
            if not isinstance(s.forge, LocalForge):
                raise UsageError("file_issue: the local forge only (forge: github files on GitHub)")
            checked = checked_issue(title, body, default_author())
            return s.forge.create_issue(*checked).to_json([])

    def approve(self, issue: int) -> str:
        """A person approves an issue waiting for review (it lands through validation, every
        gate holding) or for a person (re-queued). Only with mcp.decisions: true."""
        return self._decide("approve", issue)

    def reject(self, issue: int, reason: str) -> str:
        """A person rejects an issue waiting for review or a person: it and its PR close with
        one comment giving the reason. Only with mcp.decisions: true."""
        return self._decide("reject", issue, reason)

    def governance(self, name: str) -> str:
        from harness.config.governance import read_on_branch
        from harness.config.settings import load_settings
        from harness.git.repo import GitRepo

        branch = load_settings(self.root, state_dir(self.root)).config.production_branch
        text = read_on_branch(GitRepo(self.root), branch, name)
        if text is None:
            raise UsageError(f"{name}: not committed on {branch}")
        return text

    def _decide(self, action: str, issue: int, reason: str = "") -> str:
        from harness.config.provider import require_model
        from harness.forge.base import Label
        from harness.review import decisions

        with self.services() as s:
            if not s.settings.config.mcp.decisions:
                raise UsageError(
                    f"{action} through MCP is off: a maintainer turns it on by committing "
                    "'mcp: {decisions: true}' in factory.yaml"
                )
            actor = decisions.default_actor()
            if action == "reject":
                return decisions.reject(s, issue, reason, actor, via="mcp").message
            if decisions.waiting_label(s, issue, "approve") == Label.NEEDS_REVIEW:
                require_model(s.settings, self.provider)  # validation runs again
            return decisions.approve(s, issue, actor, via="mcp").message


def _answering(tool: Callable[..., Any]) -> Callable[..., Any]:
    """``tool`` with the factory's one-line errors (bad input, configuration, not found)
    given to the client as the tool's answer, as the command line prints them."""
    from mcp.server.mcpserver.exceptions import ToolError

    @functools.wraps(tool)
    def answered(*args: Any, **kwargs: Any) -> Any:
        try:
            return tool(*args, **kwargs)
        except FactoryError as exc:
            raise ToolError(str(exc).replace("\n", " ")) from exc

    return answered
