"""The Messages API's request rules, checked the way the real API checks them."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from harness.model.catalog import accepts

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_BREAKPOINTS = 4
_BLOCKS = {"text", "image", "tool_use", "tool_result", "document", "thinking", "redacted_thinking"}
_RESULT_BLOCKS = {"text", "image", "document", "search_result"}
_IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}
MAX_IMAGE_BYTES = 5 * 1024 * 1024


def _text_ok(block: dict[str, Any], where: str) -> str | None:
    text = block.get("text")
    if not isinstance(text, str):
        return f"{where}.text: Field required"
    if not text.strip():
        return f"{where}: text content blocks must contain non-whitespace text"
    return None


def _blocks(message: dict[str, Any], i: int) -> tuple[list[dict[str, Any]], str | None]:
    content = message.get("content")
    if isinstance(content, str):
        if not content.strip() and i < 0:
            return [], None
        return [{"type": "text", "text": content}], None
    if not isinstance(content, list) or not content:
        return [], f"messages.{i}.content: must be a non-empty string or list of blocks"
    return content, None


def _image_ok(block: dict[str, Any], where: str) -> str | None:
    source = block.get("source")
    if not isinstance(source, dict) or source.get("type") != "base64":
        return f"{where}.source: Input should be a base64 image source"
    if source.get("media_type") not in _IMAGE_TYPES:
        return f"{where}.source.media_type: Input should be one of {sorted(_IMAGE_TYPES)}"
    try:
        size = len(base64.b64decode(str(source.get("data", "")), validate=True))
    except (binascii.Error, ValueError):
        return f"{where}.source.data: The image data is not valid base64"
    if not size:
        return f"{where}.source.data: The image is empty"
    if size > MAX_IMAGE_BYTES:
        return f"{where}: image exceeds 5 MB maximum: {size} bytes > {MAX_IMAGE_BYTES} bytes"
    return None


def _result_ok(block: dict[str, Any], where: str) -> str | None:
    content = block.get("content")
    if content is None or isinstance(content, str):
        return None
    if not isinstance(content, list):
        return f"{where}.content: Input should be a valid string or list"
    for j, inner in enumerate(content):
        kind = inner.get("type") if isinstance(inner, dict) else None
        if kind not in _RESULT_BLOCKS:
            return f"{where}.content.{j}.type: {kind!r} is not allowed in a tool_result"
        if kind == "text" and (problem := _text_ok(inner, f"{where}.content.{j}")) is not None:
            return problem
        if kind == "image" and (problem := _image_ok(inner, f"{where}.content.{j}")) is not None:
            return problem
    return None


def _options_ok(body: dict[str, Any]) -> str | None:
    """thinking, output_config.effort and tool_choice, as the model named accepts them."""
    model = str(body["model"])
    can = accepts(model)
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind in ("disabled", "between_tools") and can.thinking_off != kind:
        return (
            f'"thinking.type.{kind}" is not supported for this model. Use '
            '"thinking.type.adaptive" and "output_config.effort" to control thinking behavior.'
        )
    config = body.get("output_config")
    if isinstance(config, dict) and config.get("effort") is not None and not can.effort:
        return "output_config.effort: This model does not support the effort parameter."
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        if not can.forced_tool_choice:
            return (
                f"tool_choice: forcing tool use (type {choice.get('type')!r}) is not supported "
                f'on {model}; use tool_choice {{"type": "auto"}}'
            )
        if kind in ("adaptive", "enabled"):
            return "Thinking may not be enabled when tool_choice forces tool use."
    return None


def check_request(body: Any) -> str | None:
    """The first reason the real API would refuse ``body`` with 400, or None."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            return f"{key}: Field required"
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
        return "max_tokens: must be a positive integer"
    if (problem := _options_ok(body)) is not None:
        return problem
    breakpoints = 0
    tools = body.get("tools", [])
    names: set[str] = set()
    for j, tool in enumerate(tools):
        name = tool.get("name", "")
        if not TOOL_NAME.match(name):
            return f"tools.{j}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
        if name in names:
            return f"tools: Tool names must be unique ({name})"
        names.add(name)
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return f"tools.{j}.custom.input_schema.type: Input should be 'object'"
        breakpoints += "cache_control" in tool
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        if not isinstance(system, list):
            return "system: Input should be a valid string or list"
        for j, block in enumerate(system):
            if block.get("type") != "text":
                return f"system.{j}.type: Input should be 'text'"
            if (problem := _text_ok(block, f"system.{j}")) is not None:
                return problem
            breakpoints += "cache_control" in block
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if messages[0].get("role") != "user":
        return 'messages: first message must use the "user" role'
    pending: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if i and messages[i - 1].get("role") == role:
            return 'messages: roles must alternate between "user" and "assistant"'
        blocks, problem = _blocks(message, i)
        if problem:
            return problem
        answered: set[str] = set()
        for k, block in enumerate(blocks):
            kind = block.get("type")
            where = f"messages.{i}.content.{k}"
            if kind not in _BLOCKS:
                return f"{where}.type: unknown content block type {kind!r}"
            breakpoints += "cache_control" in block
            if kind == "text" and (problem := _text_ok(block, where)) is not None:
                return problem
            if kind == "image" and (problem := _image_ok(block, where)) is not None:
                return problem
            if kind in ("thinking", "redacted_thinking") and role != "assistant":
                return f"{where}: {kind} blocks may only appear in assistant messages"
            if kind == "tool_use":
                if role != "assistant":
                    return f"{where}: tool_use blocks may only appear in assistant messages"
                if block.get("name") not in names:
                    return (
                        f"{where}: tool_use names a tool that is not defined: {block.get('name')}"
                    )
                pending.add(str(block.get("id")))
            if kind == "tool_result":
                if role != "user":
                    return f"{where}: tool_result blocks may only appear in user messages"
                if block.get("tool_use_id") not in pending:
                    return (
                        f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: "
                        f"{block.get('tool_use_id')}. Each `tool_result` block must have a "
                        "corresponding `tool_use` block in the previous message."
                    )
                if (problem := _result_ok(block, where)) is not None:
                    return problem
                answered.add(str(block["tool_use_id"]))
        if role == "user" and i:
            if pending - answered:
                return (
                    f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(sorted(pending - answered))}"
                )
            pending = set()
        if role == "assistant":
            pending = {str(b.get("id")) for b in blocks if b.get("type") == "tool_use"}
    if breakpoints > MAX_BREAKPOINTS:
        return (
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {breakpoints}."
        )
    return None
