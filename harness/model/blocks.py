"""The Messages API's shapes (requests, responses, messages and their content blocks) and the
content blocks between the agent loop, its tools and the model.

A tool handler answers with text, or with a ``ToolOutput`` that also carries images; the
loop turns either into a ``tool_result`` block. An assistant turn goes back to the model
exactly as it came (thinking and redacted_thinking blocks with their signatures, in order):
only null fields and whitespace-only text are left out, which the API treats as absent."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Required, TypedDict, cast

IMAGE_TOKENS = 1600  # the most one image can cost (a long side of at most 1568 px)


class Block(TypedDict, total=False):
    """One content block of a message, with the keys its ``type`` uses: ``text``; ``image``
    (``source``); ``tool_use`` (``id``, ``name``, ``input``); ``tool_result``
    (``tool_use_id``, ``content``, ``is_error``); ``thinking`` (``thinking``, ``signature``);
    ``redacted_thinking`` (``data``). Any may carry ``cache_control``."""

    type: Required[str]
    text: str
    source: dict[str, str]
    id: str
    name: str
    input: dict[str, object]
    tool_use_id: str
    content: str | list[Block]
    is_error: bool
    thinking: str
    signature: str
    data: str
    cache_control: dict[str, str]


class Message(TypedDict):
    role: str  # user | assistant
    content: list[Block]


class ToolDef(TypedDict):
    """A declared tool, as a request names it."""

    name: str
    description: str
    input_schema: dict[str, object]  # a JSON schema of an object


class Request(TypedDict, total=False):
    """A Messages API request, as the factory makes them."""

    model: Required[str]
    max_tokens: Required[int]
    messages: Required[list[Message]]
    system: list[Block]
    tools: list[ToolDef]
    thinking: dict[str, str]
    output_config: dict[str, str]


class Response(TypedDict, total=False):
    """A Messages API response (``_batch``: answered within a Message Batch, at half price)."""

    id: str
    type: str
    role: str
    model: str
    content: list[Block]
    stop_reason: str | None
    stop_sequence: str | None
    stop_details: dict[str, str] | None
    usage: Counted
    _batch: bool


class Counted(TypedDict, total=False):
    """A response's ``usage``."""

    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int | None
    cache_read_input_tokens: int | None
    cache_creation: dict[str, int] | None  # the cache writes by how long they are kept


def text_block(text: str) -> Block:
    return {"type": "text", "text": text}


@dataclass(frozen=True)
class Image:
    media_type: str  # "image/jpeg" | "image/png"
    data_b64: str

    def block(self) -> Block:
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": self.media_type, "data": self.data_b64},
        }


@dataclass(frozen=True)
class ToolOutput:
    """What a tool shows the model: text, and images after it."""

    text: str
    images: tuple[Image, ...] = field(default_factory=tuple)


Handler = Callable[[dict[str, object]], "str | ToolOutput"]  # a tool, given its input


MAX_TOOL_RESULT = 20_000  # characters of a tool's answer the model is shown


def cap(text: str) -> str:
    """A tool's answer cut to ``MAX_TOOL_RESULT`` characters, saying so."""
    if len(text) <= MAX_TOOL_RESULT:
        return text
    return text[:MAX_TOOL_RESULT] + (
        f"\n[output cut: {len(text):,} characters, first {MAX_TOOL_RESULT:,} shown]"
    )


def result_content(output: str | ToolOutput) -> str | list[Block]:
    """A ``tool_result``'s content (each text ``cap``ped): plain text stays a string (as
    before images existed)."""
    if isinstance(output, str):
        return cap(output) or "(empty)"
    return [text_block(cap(output.text) or "(empty)"), *(i.block() for i in output.images)]


def assistant_blocks(response: Response) -> list[Block]:
    """The response's content as it goes back to the model, in order."""
    blocks: list[Block] = []
    for block in response.get("content") or []:
        kept = cast(Block, {k: v for k, v in block.items() if v is not None})
        if kept.get("type") == "text" and not kept.get("text", "").strip():
            continue
        blocks.append(kept)
    return blocks


def without_images(messages: list[Message]) -> list[Message]:
    """A copy for transcripts: each image's data replaced by its size (without an image,
    a new list of the same turns)."""
    if not any(
        block.get("type") == "image" for m in messages for block in _nested_blocks(m["content"])
    ):
        return list(messages)
    out = copy.deepcopy(messages)
    for message in out:
        for block in _nested_blocks(message["content"]):
            source = block.get("source") if block.get("type") == "image" else None
            if source is not None and isinstance(source.get("data"), str):
                source["data"] = f"[{len(source['data']):,} base64 characters left out]"
    return out


def _nested_blocks(content: str | list[Block]) -> list[Block]:
    found: list[Block] = []
    for block in content if isinstance(content, list) else []:
        found += [block, *_nested_blocks(block.get("content", ""))]
    return found


def estimate_tokens(value: Any, chars_per_token: int = 4) -> int:
    """Tokens of ``value`` by its JSON size, an image counted as ``IMAGE_TOKENS``."""
    text = json.dumps(value, ensure_ascii=False)
    if '"type": "image"' not in text:  # a text's quotes are escaped: only a block says so
        return max(1, len(text) // chars_per_token)
    images = 0

    def strip(node: Any) -> Any:
        nonlocal images
        if isinstance(node, dict):
            if node.get("type") == "image":
                images += 1
                return {"type": "image"}
            return {k: strip(v) for k, v in node.items()}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    size = len(json.dumps(strip(value), ensure_ascii=False))
    return max(1, size // chars_per_token) + images * IMAGE_TOKENS
