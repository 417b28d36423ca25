"""``factory mcp``: the factory as an MCP server over stdio, on the official ``mcp`` SDK, for
Claude Code, Cursor and other agents (docs/mcp.md).

A thin face, like the command line and the dashboard: each tool calls what they call
(``status_data`` and ``report_data`` of ``factory status`` / ``report --json``, the store's
run rows, ``ready_to_implement``, ``change_diff``, the dashboard's ``backtest_view``, the
local forge, ``harness.decisions``) and answers what ``--json`` would print, as one
JSON text block and as structured content. Approve, reject and cancel are a person's
decisions: they act only when the production branch's factory.yaml says
``mcp: {decisions: true}``, and the audit trail records them ``via: mcp``; an issue filed
through MCP is written by MCP's own author (``mcp.author``), which is never trusted.

The process keeps one state and one set of services, opened again only when the production
branch moved (factory.yaml, its ``mcp`` section among it, and the governance are read from
there); the SDK runs each tool in a worker thread, and the calls are served one at a time.
Bad input is a JSON-RPC error in the protocol's words: an unknown tool or arguments that do
not fit its schema (-32602, the problem named by key), a request whose ``params`` is not an
object."""

from __future__ import annotations

import functools
import io
import json
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import click
from annotated_types import Interval

from harness.cli.common import Target, target_of
from harness.errors import FactoryError, UsageError
from harness.paths import shipped_yaml

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from harness.config.settings import Settings
    from harness.engine.context import Services
    from harness.store.db import Store

Count = Annotated[int, Interval(ge=1, le=1000)]
Issue = Annotated[int, Interval(ge=1, le=2**31 - 1)]


@click.command()
@click.pass_context
def mcp(ctx: click.Context) -> None:
    """Serve the factory's status, queue, runs, reports, diffs and backtest as MCP tools over
    standard input and output (approve and reject with mcp.decisions: true)."""
    import anyio

    face = _Face(target_of(ctx))
    anyio.run(_serve, server(face))
    for landing in face.landings:  # an approval still landing ends before the process does
        landing.join()


async def _serve(app: MCPServer) -> None:
    """``app`` on stdio, standard input read through ``_Requests`` from a descriptor of its
    own: descriptor 0 reads the null device, as the SDK leaves it, so no command the factory
    starts reads the client's requests."""
    import os

    import anyio
    from mcp.server.stdio import stdio_server

    wire = os.dup(0)
    nothing = os.open(os.devnull, os.O_RDONLY)
    os.dup2(nothing, 0)
    os.close(nothing)
    requests = _Requests(os.fdopen(wire, "rb"), "utf-8", "replace")
    async with stdio_server(stdin=anyio.wrap_file(requests)) as (read, write):
        low = app._lowlevel_server  # what MCPServer.run_stdio_async runs
        await low.run(read, write, low.create_initialization_options())


class _Requests(io.TextIOWrapper):
    """Standard input as the SDK reads it, but for a request whose ``params`` is not an
    object: the SDK drops a line it cannot read as a message, and its sender would wait for
    ever. Its ``params`` become one the SDK refuses (-32602), so it is answered."""

    def readline(self, size: int = -1, /) -> str:  # type: ignore[override]
        line = super().readline(size)
        try:
            message = json.loads(line)
        except ValueError:
            return line
        request = isinstance(message, dict) and {"id", "method", "params"} <= message.keys()
        if not request or isinstance(message["params"], dict):
            return line
        return json.dumps({**message, "params": {"_meta": "params must be an object"}}) + "\n"


def server(face: _Face) -> MCPServer:
    from importlib.metadata import version

    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.shared.exceptions import MCPError
    from mcp.types import INVALID_PARAMS, ToolAnnotations
    from pydantic import ValidationError

    from harness.config.errors import problems_from
    from harness.config.models import CONFIG_FILE, GOVERNANCE_FILES

    class Server(MCPServer):
        async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
            """The SDK's call, its refusals of the call itself as JSON-RPC errors."""
            tools = {tool.name: tool for tool in await self.list_tools()}
            if name not in tools:
                raise MCPError(INVALID_PARAMS, f"no tool named {name!r}")
            takes = tools[name].input_schema.get("properties", {})
            if unknown := sorted(set(arguments or {}) - set(takes)):
                listed = ", ".join(takes) or "none"
                said = f"{name}: no argument named {unknown[0]!r} (it takes: {listed})"
                raise MCPError(INVALID_PARAMS, said)
            try:
                return await super().call_tool(name, arguments, context)
            except ToolError as exc:
                if not isinstance(exc.__cause__, ValidationError):
                    raise
                problems = map(str, problems_from(name, exc.__cause__))
                raise MCPError(INVALID_PARAMS, "; ".join(problems)) from exc

    app = Server("factory", version=version("dark-factory-harness"), log_level="WARNING")
    served = shipped_yaml("mcp", "tools.yaml")  # each tool, and the hints a host may assume
    for name, said in served["tools"].items():
        app.add_tool(
            _answering(getattr(face, name)),
            annotations=ToolAnnotations.model_validate(
                {hint: hint in said for hint in served["hints"]}
            ),
        )
    for name in (*GOVERNANCE_FILES, CONFIG_FILE):  # as runs read them: committed on production
        app.resource(
            f"factory://governance/{name}",
            name=name,
            description=f"{name} as runs read it: committed on the production branch",
            mime_type="text/markdown" if name.endswith(".md") else "application/yaml",
        )(functools.partial(face.governance, name))
    return app


class _Face:
    """The tools, each a method over the command's ``target``."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.one_at_a_time = threading.Lock()
        self.state: Store | None = None
        self.opened: Services | None = None
        self.landings: list[threading.Thread] = []

    @contextmanager
    def store(self) -> Iterator[Store]:
        """The process's state, opened at the first call."""
        with self.one_at_a_time:
            self.state = self.state or self.target.store()
            yield self.state

    @contextmanager
    def services(self) -> Iterator[Services]:
        """The process's services, opened again when the production branch moved."""
        with self.store() as store:
            had = self.opened
            branch = f"refs/heads/{had.settings.config.production_branch}" if had else ""
            if had is None or had.repo.rev_parse(branch) != had.settings.governance.commit:
                had = self.target.services(store=store)
                self.opened = had
            yield had

    def status(self, window_days: Annotated[int, Interval(ge=1, le=3650)] = 30) -> dict[str, Any]:
        """The kill switch, runs by status and outcome, spend, earned trust, Autonomy Index."""
        from harness.cli.state import status_data

        with self.store() as s:
            return status_data(self.target, s, window_days)

    def queue(self) -> list[int]:
        """The accepted issues ready to implement, in the order a run takes them."""
        from harness.cycle import ready_to_implement

        with self.services() as s:
            return ready_to_implement(s)

    def runs(self, limit: Count = 20) -> list[dict[str, Any]]:
        """The newest runs: workflow, issue, status, outcome, reason, cost, tokens."""
        with self.store() as s:
            return s.run_rows(s.list_runs(limit=limit))

    def report(self, run_id: str) -> dict[str, Any]:
        """One run: its row, governance hashes, steps with outputs, and its issue's diff."""
        from harness.cli.state import report_data

        with self.store() as s:
            return report_data(self.target, s, run_id)[0]

    def diff(self, issue: Issue) -> str:
        """The change the factory's pull request for an issue holds, as a unified diff."""
        from harness.review.change import required_change

        with self.store() as s:
            return required_change(s, self.target.repo(), issue).shown()

    def backtest_summary(self) -> dict[str, Any]:
        """The newest `factory backtest`: its summary and a row per case (none: null)."""
        from harness.serve.backtest_page import backtest_view

        with self.services() as s:
            view = backtest_view(s)
        if view is None:
            return {"backtest": None}
        return {
            "backtest": view.record.id,
            "status": view.record.status,
            "summary": view.summary.model_dump(mode="json"),
            "cases": [row.model_dump(mode="json") for row in view.rows],
        }

    def checks(self) -> list[object]:
        """The learned checks: origin, state, newest replay (never what they do or quote)."""
        from harness.validate.learned import check_rows

        with self.services() as s:
            return [row.model_dump(exclude={"actions", "quote"}) for row in check_rows(s)]

    def file_issue(self, title: str, body: str = "") -> dict[str, Any]:
        """File an issue on the local forge (on GitHub, people file them there), written by
        MCP's own author (factory.yaml's mcp.author, else "mcp"): never a trusted one."""
        from harness.cli.issue import checked_issue
        from harness.forge.local import LocalForge

        with self.services() as s:
            if not isinstance(s.forge, LocalForge):
                raise UsageError("file_issue: the local forge only (forge: github files on GitHub)")
            checked = checked_issue(title, body, s.settings.config.mcp.author)
            return s.forge.create_issue(*checked).to_json([])

    def approve(self, issue: Issue) -> str:
        """A person approves an issue waiting for review (it lands through validation, every
        gate holding) or for a person (re-queued). Answered once the landing has started;
        `runs` shows when it ends. Only with mcp.decisions: true."""
        return self._decide("approve", issue)

    def reject(self, issue: Issue, reason: str) -> str:
        """A person rejects an issue waiting for review or a person: it and its PR close with
        one comment giving the reason. Only with mcp.decisions: true."""
        return self._decide("reject", issue, reason)

    def cancel(self, issue: Issue, reason: str = "") -> str:
        """A person stops the factory's work on an accepted or in-progress issue: its runs
        end, it waits for a person with one comment; `factory retry` takes it back. Only with
        mcp.decisions: true."""
        return self._decide("cancel", issue, reason)

    def governance(self, name: str) -> str:
        from harness.config.governance import read_on_branch

        with self.services() as s:
            branch = s.settings.config.production_branch
            text = read_on_branch(s.repo, branch, name)
        if text is None:
            raise UsageError(f"{name}: not committed on {branch}")
        return text

    def _decide(self, action: str, issue: int, reason: str = "") -> str:
        from harness import decisions
        from harness.retry import cancel_issue

        with self.services() as s:
            if not s.settings.config.mcp.decisions:
                raise UsageError(
                    f"{action} through MCP is off: a maintainer turns it on by committing "
                    "'mcp: {decisions: true}' in factory.yaml"
                )
            actor = decisions.default_actor()
            if action == "cancel":
                return cancel_issue(s, issue, actor, reason.strip(), via="mcp")
            if action == "reject":
                return decisions.reject(s, issue, reason, actor, via="mcp").message
        return self._land(issue, actor, s.settings, s.store)

    def _land(self, issue: int, actor: str, settings: Settings, store: Store) -> str:
        """The approval in a thread of its own, with services of its own (as a cycle's
        worker has): answered with its first word, when validation starts (or with its end,
        when it re-queued the issue or refused). The server waits for the thread before it
        exits; killed meanwhile, the next ``factory run`` finishes the validation."""
        from harness.decisions import approve

        said: queue.Queue[str | FactoryError] = queue.Queue()

        def land() -> None:
            own = self.target.services(settings=settings, store=store)
            try:
                said.put(
                    approve(
                        own, issue, actor, via="mcp", say=said.put, provider=self.target.provider
                    ).message
                )
            except FactoryError as exc:
                said.put(exc)

        landing = threading.Thread(target=land, name=f"approve-{issue}")
        self.landings.append(landing)
        landing.start()
        first = said.get()
        if isinstance(first, FactoryError):
            raise first
        return f"{first} (`runs` shows when it ends)"


def _answering(tool: Callable[..., Any]) -> Callable[..., Any]:
    """``tool`` answering one JSON text block (a diff or a sentence as it is) beside its
    structured content, and with the factory's one-line errors (bad input, configuration,
    not found) as the tool's answer, as the command line prints them."""
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.types import CallToolResult, TextContent

    @functools.wraps(tool)
    def answered(*args: Any, **kwargs: Any) -> Any:
        try:
            value = tool(*args, **kwargs)
        except FactoryError as exc:
            raise ToolError(str(exc).replace("\n", " ")) from exc
        text = value if isinstance(value, str) else json.dumps(value, indent=1, default=str)
        return CallToolResult(
            content=[TextContent(type="text", text=text)],
            structured_content=value if isinstance(value, dict) else {"result": value},
        )

    return answered
