"""The agent turn loop: declared tools, a bounded number of turns, a validated output tool.

Each assistant turn goes back to the model exactly as it came (thinking blocks included);
what each stop reason does is said in docs/configuration.md ("Models")."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field

from harness.cpu import waiting
from harness.errors import AgentError, ToolError
from harness.model.base import CallRecord, Model, Usage
from harness.model.blocks import (
    Block,
    Handler,
    Message,
    Request,
    Response,
    assistant_blocks,
    cap,
    result_content,
    text_block,
    without_images,
)
from harness.model.pricing import cost_usd
from harness.model.prompt import call_options, system_blocks, with_moving_breakpoint
from harness.model.recording import request_sha256
from harness.model.tools import message, tool_defs, validate_input

MAX_CUT_TURNS = 2
MAX_INVALID_OUTPUTS = 3  # output tool inputs that fail its schema before the step fails


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
    thinking: str | None = None  # "adaptive" | "off" | None: the model's default
    effort: str | None = None  # "low" … "max" | None: the model's default
    # may send the first valid output back once, saying why as the tool's error (None: it
    # stands): the next valid output stands, and so does the first when the turns run out
    review: Callable[[dict[str, object]], str | None] | None = None


class AgentHooks:
    """What is done around each model call of an agent: checks before it (the kill switch,
    the budgets: ``harness.engine.agents.StepHooks``), its record after it. This base does
    neither: the sealed validator's own side, whose every call the harness checks and
    records at its end of the model socket."""

    def before_call(self, request: Request) -> None: ...
    def after_call(self, record: CallRecord) -> None: ...


@dataclass
class AgentResult:
    output: dict[str, object]  # the output tool's input, valid for its schema
    turns: int
    calls: list[CallRecord] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)  # images left out
    sent_back: str = ""  # why its first valid output went back to it (``run_agent``'s review)


def _run_tool(
    use: Block, handlers: Mapping[str, Handler], output: str
) -> tuple[str | list[Block], bool]:
    """A tool use's result: a ``Tool`` refuses input that does not fit its schema itself."""
    handler = handlers.get(use["name"])
    if handler is None:  # every tool it may call is named: the output tool too
        available = ", ".join(sorted([*handlers, output]))
        return f"unknown tool {use['name']!r}; available: {available}", True
    try:
        return result_content(handler(use["input"])), False
    except ToolError as exc:
        return cap(str(exc)) or "(empty)", True


def _result(use: Block, content: str | list[Block], is_error: bool) -> Block:
    block: Block = {"type": "tool_result", "tool_use_id": use["id"], "content": content}
    if is_error:
        block["is_error"] = True
    return block


def _stopped(spec: AgentSpec, response: Response, turn: int) -> None:
    """Raise for the stop reasons that end the step."""
    reason = response.get("stop_reason")
    if reason == "refusal":
        details = response.get("stop_details") or {}
        why = ": ".join(str(details[k]) for k in ("category", "explanation") if details.get(k))
        raise AgentError(
            f"agent {spec.role}: the model ({spec.model}) refused to continue at turn {turn}"
            + (f" ({why})" if why else "")
        )
    if reason == "model_context_window_exceeded":
        raise AgentError(
            f"agent {spec.role}: the conversation filled {spec.model}'s context window "
            f"at turn {turn}; the task needs fewer or smaller tool results"
        )


def checked_call(model: Model, hooks: AgentHooks, request: Request) -> tuple[Response, CallRecord]:
    """One model call: the hooks' checks before it (they raise to refuse it), then the call,
    priced and handed to the hooks as a record. A scripted answer is priced as the model
    the request names prices the same tokens, so budgets hold offline as they do online; a
    replayed answer was paid for when it was recorded."""
    hooks.before_call(request)
    with waiting():  # the run's CPU slot goes to another run while the model answers
        started = time.monotonic()
        response = model.create(request)
        duration_s = time.monotonic() - started  # waiting for the next turn is the engine's
    usage = Usage.from_response(response)
    model_id = str(request["model"])
    paid = model.kind != "replay"
    record = CallRecord(
        model=model_id,
        usage=usage,
        cost_usd=cost_usd(model_id, usage, batch=bool(response.get("_batch"))) if paid else 0.0,
        duration_s=duration_s,
        request_sha256=request_sha256(request),
        stop_reason=response.get("stop_reason"),
    )
    hooks.after_call(record)
    return response, record


class AgentLoop:
    def __init__(
        self, model: Model, spec: AgentSpec, handlers: Mapping[str, Handler], hooks: AgentHooks
    ) -> None:
        self.model = model
        self.spec = spec
        self.handlers = handlers
        self.hooks = hooks
        task = spec.task if spec.task.strip() else message("begin")
        self.messages: list[Message] = [{"role": "user", "content": [text_block(task)]}]
        self.base: Request = {
            "model": spec.model,
            "max_tokens": spec.max_tokens,
            "messages": [],
            "system": system_blocks(spec.governance, spec.instructions),
            "tools": tool_defs([*spec.tools, spec.output_tool]),
        }
        call_options(self.base, spec.role, spec.thinking, spec.effort)
        self.result = AgentResult(output={}, turns=0)
        self.invalid = self.cuts = 0
        self.asked: Future[Response] | None = None  # the first call, asked ahead

    def ask_ahead(self) -> None:
        """Put the first question to the model now, on a thread of its own, while the caller
        makes its tools ready (the first request does not depend on them); ``run`` takes the
        answer. A daemon: a caller that fails meanwhile does not wait for the model."""
        self.asked = asked = Future[Response]()

        def first() -> None:
            try:
                asked.set_result(self.call())
            except BaseException as exc:  # raised again in ``run``
                asked.set_exception(exc)

        threading.Thread(target=first, daemon=True).start()

    def call(self) -> Response:
        request: Request = {**self.base, "messages": with_moving_breakpoint(self.messages)}
        response, record = checked_call(self.model, self.hooks, request)
        self.result.calls.append(record)
        return response

    def add_turn(self, response: Response, resumed: bool) -> list[Block]:
        """Append the assistant turn (continuing a paused one); return its tool uses."""
        content = assistant_blocks(response)
        if resumed:
            self.messages[-1]["content"].extend(content)
        else:
            self.messages.append({"role": "assistant", "content": content or [text_block("…")]})
        return [b for b in self.messages[-1]["content"] if b.get("type") == "tool_use"]

    def cut(self, uses: list[Block]) -> None:
        spec = self.spec
        self.cuts += 1
        if self.cuts > MAX_CUT_TURNS:
            raise AgentError(
                f"agent {spec.role}: {self.cuts} turns in a row were cut at max_tokens "
                f"({spec.max_tokens}); raise the step's max_tokens"
            )
        note = message("cut", output=spec.output_tool, max_tokens=str(spec.max_tokens))
        results = [_result(use, note, True) for use in uses]
        self.messages.append({"role": "user", "content": results or [text_block(note)]})

    def tools(self, uses: list[Block]) -> bool:
        """Run the turn's tool uses; True once the output tool got a valid input."""
        spec = self.spec
        results = []
        for use in uses:
            content: str | list[Block]
            if use["name"] == spec.output_tool:
                problem = validate_input(spec.output_tool, use["input"])
                if problem is None:
                    self.result.output = dict(use["input"])
                    review = None if self.result.sent_back else spec.review  # once
                    said = review(self.result.output) if review else None
                    if not said:
                        return True
                    self.result.sent_back = said
                    results.append(_result(use, said, True))
                    continue
                self.invalid += 1
                if self.invalid >= MAX_INVALID_OUTPUTS:
                    raise AgentError(
                        f"agent {spec.role}: {self.invalid} invalid {spec.output_tool} inputs; "
                        f"last: {problem}"
                    )
                content = message("invalid_output", output=spec.output_tool, error=problem)
                results.append(_result(use, content, True))
            else:
                content, is_error = _run_tool(use, self.handlers, spec.output_tool)
                results.append(_result(use, content, is_error))
        self.messages.append({"role": "user", "content": results})
        return False

    def run(self) -> AgentResult:
        spec = self.spec
        paused = False
        try:
            for turn in range(1, spec.max_turns + 1):
                response = self.asked.result() if self.asked and turn == 1 else self.call()
                self.result.turns = turn
                uses = self.add_turn(response, resumed=paused)  # kept in the transcript
                _stopped(spec, response, turn)
                reason = response.get("stop_reason")
                paused = reason == "pause_turn"
                if paused:
                    continue
                if reason == "max_tokens":
                    self.cut(uses)
                    continue
                self.cuts = 0
                if not uses:
                    reminder = message("reminder", output=spec.output_tool)
                    self.messages.append({"role": "user", "content": [text_block(reminder)]})
                elif self.tools(uses):
                    return self.result
        finally:
            self.result.messages = without_images(self.messages)
        if self.result.sent_back:  # it gave a valid output, sent back once: that one stands
            return self.result
        raise AgentError(
            f"agent {spec.role} used all {spec.max_turns} turns without calling {spec.output_tool}"
        )


def run_agent(
    model: Model, spec: AgentSpec, handlers: Mapping[str, Handler], hooks: AgentHooks
) -> AgentResult:
    return AgentLoop(model, spec, handlers, hooks).run()
