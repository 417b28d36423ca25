"""The agent turn loop: declared tools, a bounded number of turns, a validated output tool."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.errors import ModelError, ToolError
from harness.model.base import CallRecord, Model, Usage
from harness.model.pricing import cost_usd
from harness.model.prompt import system_blocks, with_moving_breakpoint
from harness.model.recording import request_sha256
from harness.model.tools import message, tool_defs, validate_input

MAX_TOOL_RESULT = 20_000
Handler = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class AgentSpec:
    role: str
    model: str
    governance: list[tuple[str, str]]
    instructions: str
    task: str
    tools: list[str]
    output_tool: str
    max_turns: int
    max_tokens: int = 4096
    max_invalid_outputs: int = 3


class AgentHooks(Protocol):
    def before_call(self, request: dict[str, Any]) -> None: ...
    def after_call(self, record: CallRecord) -> None: ...


@dataclass
class AgentResult:
    output: dict[str, Any]
    turns: int
    calls: list[CallRecord] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)


def cap(text: str, limit: int = MAX_TOOL_RESULT) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[output cut: {len(text):,} characters, first {limit:,} shown]"


def _assistant_content(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The response's blocks as the API accepts them back (no empty text, known fields only)."""
    blocks: list[dict[str, Any]] = []
    for block in response.get("content") or []:
        if block.get("type") == "text" and str(block.get("text", "")).strip():
            blocks.append({"type": "text", "text": block["text"]})
        elif block.get("type") == "tool_use":
            blocks.append(
                {
                    "type": "tool_use",
                    "id": block["id"],
                    "name": block["name"],
                    "input": block.get("input") or {},
                }
            )
    return blocks or [{"type": "text", "text": "…"}]


def _run_tool(name: str, data: dict[str, Any], handlers: dict[str, Handler]) -> tuple[str, bool]:
    handler = handlers.get(name)
    if handler is None:
        return f"unknown tool {name!r}; available: {', '.join(sorted(handlers)) or 'none'}", True
    problem = validate_input(name, data)
    if problem is not None:
        return f"invalid input for {name}: {problem}", True
    try:
        return cap(handler(data)), False
    except ToolError as exc:
        return cap(str(exc)), True


def run_agent(
    model: Model, spec: AgentSpec, handlers: dict[str, Handler], hooks: AgentHooks
) -> AgentResult:
    tools = tool_defs([*spec.tools, spec.output_tool])
    system = system_blocks(spec.governance, spec.instructions)
    task = spec.task if spec.task.strip() else message("begin")
    messages: list[dict[str, Any]] = [{"role": "user", "content": [{"type": "text", "text": task}]}]
    result = AgentResult(output={}, turns=0, messages=messages)
    invalid = 0
    for turn in range(1, spec.max_turns + 1):
        request = {
            "model": spec.model,
            "max_tokens": spec.max_tokens,
            "system": system,
            "tools": tools,
            "messages": with_moving_breakpoint(messages),
        }
        hooks.before_call(request)
        started = time.monotonic()
        response = model.create(request)
        usage = Usage.from_response(response)
        record = CallRecord(
            model=spec.model,
            usage=usage,
            cost_usd=(
                cost_usd(spec.model, usage, batch=bool(response.get("_batch")))
                if model.kind == "anthropic"
                else 0.0
            ),
            duration_s=time.monotonic() - started,
            request_sha256=request_sha256(request),
            stop_reason=response.get("stop_reason"),
        )
        hooks.after_call(record)
        result.calls.append(record)
        result.turns = turn
        content = _assistant_content(response)
        messages.append({"role": "assistant", "content": content})
        uses = [b for b in content if b["type"] == "tool_use"]
        if not uses:
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": message("reminder", output=spec.output_tool)}
                    ],
                }
            )
            continue
        results: list[dict[str, Any]] = []
        for use in uses:
            if use["name"] == spec.output_tool:
                problem = validate_input(spec.output_tool, use["input"])
                if problem is None:
                    result.output = dict(use["input"])
                    return result
                invalid += 1
                if invalid >= spec.max_invalid_outputs:
                    raise ModelError(
                        f"agent {spec.role}: {invalid} invalid {spec.output_tool} inputs; "
                        f"last: {problem}"
                    )
                text, is_error = (
                    message("invalid_output", output=spec.output_tool, error=problem),
                    True,
                )
            else:
                text, is_error = _run_tool(use["name"], use["input"], handlers)
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": use["id"],
                "content": text or "(empty)",
            }
            if is_error:
                block["is_error"] = True
            results.append(block)
        messages.append({"role": "user", "content": results})
    raise ModelError(
        f"agent {spec.role} used all {spec.max_turns} turns without calling {spec.output_tool}"
    )


def transcript_json(result: AgentResult) -> str:
    return json.dumps(result.messages, indent=1, ensure_ascii=False)
