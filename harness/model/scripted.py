"""The scripted model: a deterministic, offline stand-in that speaks the same tool contract.

A script is a YAML list of rules (docs/configuration.md, "Scripted answers", says each key;
``governance`` also asks for its regex in the system prompt). The answer is its turn number
``len(assistant messages so far)``: stateless, it answers a resumed or parallel run the same
way. A paused turn carries the text ``PAUSED`` so that its continuation counts as the next
turn."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from string import Template
from typing import Any, Literal

from pydantic import Field, field_validator

from harness.config.errors import validated
from harness.config.yamlload import FileModel, load_yaml
from harness.digest import sha256
from harness.errors import ConfigError, ConfigErrors, ModelError
from harness.model.blocks import Block, Message, Request, Response, estimate_tokens, text_block
from harness.paths import workflows_dir

StopReason = Literal[
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
]
PAUSED = "(paused; the turn goes on)"
# what a provider counts as a call's input tokens (the usage the answer reports, priced as the
# model the request names prices it: harness/model/agent.py)
_COUNTED = ("system", "tools", "messages")


class Action(FileModel):
    tool: str | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    text: str | None = None
    thinking: str | None = None
    redacted_thinking: str | None = None
    stop_reason: StopReason | None = None  # of the whole turn; default: tool_use or end_turn
    # name -> a regex whose group, in its newest match in the conversation so far, fills
    # ``${name}`` in the input (what an earlier tool showed: a token read from a page)
    recall: dict[str, str] = Field(default_factory=dict)


class Rule(FileModel):
    output: str
    match: str | None = None
    governance: str | None = None
    turns: list[list[Action]] = Field(min_length=1)

    @field_validator("match", "governance")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from exc
        return value


def load_script(path: Path) -> list[Rule]:
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(str(path), "(file)", f"unreadable: {exc.strerror}") from exc
    return _rules(text, str(path))


@lru_cache(maxsize=16)
def _rules(text: str, source: str) -> list[Rule]:
    """The rules of a script's ``text``, parsed once per process (every command of a
    process opens the model again). Nobody changes them."""
    data = load_yaml(text, source)
    if not isinstance(data, list):
        raise ConfigError(source, "(top)", "a script is a list of rules")
    rules: list[Rule] = []
    problems: list[ConfigError] = []
    for i, item in enumerate(data):
        try:
            rules.append(validated(Rule, item, source, f"[{i}]"))
        except ConfigErrors as exc:
            problems += exc.problems
    if problems:
        raise ConfigErrors(problems)
    return rules


# How every task template presents the issue: ``wrap_data`` of the title, then of the body
# (harness/engine/templates.py). Neither can close its own wrapper, so the first title block
# and the body block right after it are the issue's, whatever the task holds further down.
_ISSUE = re.compile(
    r"<issue_title>\n(?P<title>.*?)\n</issue_title>\s*<issue>\n(?P<body>.*?)\n</issue>", re.S
)


def match_text(task: str) -> str:
    """What ``match`` searches: the issue's title and body (a line between them) when the
    task presents an issue, else the whole task."""
    found = _ISSUE.search(task)
    return f"{found['title']}\n{found['body']}" if found else task


def _text_of(message: Message) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") for b in content or [] if b.get("type") == "text")


def _recalled(action: Action, messages: list[Message]) -> Any:
    """``action``'s input, each ``${name}`` of its ``recall`` the group of the newest match of
    its pattern in the conversation so far (JSON-encoded: what the tools showed)."""
    said = json.dumps(messages)
    values: dict[str, str] = {}
    for name, pattern in action.recall.items():
        found = re.findall(pattern, said)
        if not found:
            raise ModelError(f"scripted model: nothing seen matches recall {name}: {pattern}")
        values[name] = json.dumps(found[-1])[1:-1]  # as it stands inside a JSON string
    return json.loads(Template(json.dumps(action.input)).safe_substitute(values))


def _turn(messages: list[Message]) -> int:
    """Assistant turns so far; a paused turn being resumed counts, a resumed one twice."""
    assistants = [m for m in messages if m.get("role") == "assistant"]
    pauses = sum(
        b.get("text") == PAUSED
        for m in assistants
        for b in m.get("content") or []
        if isinstance(b, dict)
    )
    resuming = bool(messages) and messages[-1].get("role") == "assistant"
    return len(assistants) + pauses - int(resuming)


class ScriptedModel:
    """Answers from a script; falls back to the shipped default script."""

    kind = "scripted"

    def __init__(self, rules: list[Rule] | None = None) -> None:
        self.rules = list(rules or []) + load_script(workflows_dir() / "scripted" / "default.yaml")

    def pick(self, request: Request) -> Rule:
        offered = {str(t["name"]) for t in request.get("tools", [])}
        messages = request.get("messages", [])
        issue = match_text(_text_of(messages[0])) if messages else ""
        system = json.dumps(request.get("system", ""))
        for rule in self.rules:
            if rule.output not in offered or (rule.match and not re.search(rule.match, issue)):
                continue
            if rule.governance is None or re.search(rule.governance, system):
                return rule
        raise ModelError(f"scripted model: no rule answers a request offering {sorted(offered)}")

    def create(self, request: Request) -> Response:
        rule = self.pick(request)
        actions = rule.turns[min(_turn(request.get("messages", [])), len(rule.turns) - 1)]
        digest = sha256(json.dumps(request, sort_keys=True))
        content: list[Block] = []
        stop: str | None = None
        for i, action in enumerate(actions):
            stop = action.stop_reason or stop
            if action.thinking is not None:
                signature = sha256(f"{digest}{i}{action.thinking}")
                content.append(
                    {"type": "thinking", "thinking": action.thinking, "signature": signature}
                )
            if action.redacted_thinking is not None:
                content.append({"type": "redacted_thinking", "data": action.redacted_thinking})
            if action.tool is not None:
                content.append(
                    {
                        "type": "tool_use",
                        "id": f"toolu_{digest[:16]}{i:02d}",
                        "name": action.tool,
                        "input": _recalled(action, request.get("messages", []))
                        if action.recall
                        else action.input,
                    }
                )
            elif action.text:
                content.append(text_block(action.text))
        if stop == "pause_turn":
            content.append(text_block(PAUSED))
        if not content and stop is None:
            content = [text_block("(no action)")]
        return {
            "id": f"msg_scripted_{digest[:20]}",
            "type": "message",
            "role": "assistant",
            "model": request.get("model", "scripted"),
            "content": content,
            "stop_reason": stop
            or ("tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"),
            "stop_sequence": None,
            "usage": {
                "input_tokens": estimate_tokens([request.get(k) for k in _COUNTED]),
                "output_tokens": estimate_tokens(content),
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
