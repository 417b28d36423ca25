"""``factory mcp``: the factory as an MCP server over stdio, on the official ``mcp`` SDK, for
Claude Code, Cursor and other agents (docs/mcp.md).

A thin face, like the command line and the dashboard: each tool answers the record they
show (``harness/reports``: the status, the runs, a run's report, the newest backtest) or
calls what they call (``ready_to_implement``, ``change_diff``, the local forge,
``harness.decisions``), and answers what ``--json`` would print, as one JSON text block and
as structured content. Approve, reject and cancel are a person's
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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from harness.cli.common import plain, target_of
from harness.errors import FactoryError
from harness.paths import shipped_yaml

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from harness.cli.mcp_face import Face


@click.command()
@click.pass_context
def mcp(ctx: click.Context) -> None:
    """Serve the factory's status, queue, runs, reports, diffs and backtest as MCP tools over
    standard input and output (approve and reject with mcp.decisions: true)."""
    import anyio

    from harness.cli.mcp_face import Face

    face = Face(target_of(ctx))
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


def server(face: Face) -> MCPServer:
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
        data = json.loads(json.dumps(value, default=plain))  # what the text block says
        text = value if isinstance(value, str) else json.dumps(data, indent=1)
        return CallToolResult(
            content=[TextContent(type="text", text=text)],
            structured_content=data if isinstance(data, dict) else {"result": data},
        )

    return answered
