"""Content blocks between the agent loop, its tools and the model.

A tool handler answers with text, or with a ``ToolOutput`` that also carries images; the
loop turns either into a ``tool_result`` block. An assistant turn goes back to the model
exactly as it came (thinking and redacted_thinking blocks with their signatures, in order):
only null fields and whitespace-only text are left out, which the API treats as absent."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

IMAGE_TOKENS = 1600  # the most one image can cost (a long side of at most 1568 px)


@dataclass(frozen=True)
class Image:
    media_type: str  # "image/jpeg" | "image/png"
    data_b64: str

    def block(self) -> dict[str, Any]:
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": self.media_type, "data": self.data_b64},
        }


@dataclass(frozen=True)
class ToolOutput:
    """What a tool shows the model: text, and images after it."""

    text: str
    images: tuple[Image, ...] = field(default_factory=tuple)


Handler = Callable[[dict[str, Any]], "str | ToolOutput"]


def result_content(output: str | ToolOutput, cap: Callable[[str], str]) -> str | list[Any]:
    """A ``tool_result``'s content: plain text stays a string (as before images existed)."""
    if isinstance(output, str):
        return cap(output) or "(empty)"
    blocks: list[dict[str, Any]] = [{"type": "text", "text": cap(output.text) or "(empty)"}]
    return blocks + [image.block() for image in output.images]


def assistant_blocks(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The response's content as it goes back to the model, in order."""
    blocks: list[dict[str, Any]] = []
    for block in response.get("content") or []:
        kept = {k: v for k, v in block.items() if v is not None}
        if kept.get("type") == "text" and not str(kept.get("text", "")).strip():
            continue
        blocks.append(kept)
    return blocks


def without_images(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy for transcripts: each image's data replaced by its size."""
    out = copy.deepcopy(messages)
    for message in out:
        for block in _nested_blocks(message.get("content")):
            source = block.get("source") if block.get("type") == "image" else None
            if isinstance(source, dict) and isinstance(source.get("data"), str):
                source["data"] = f"[{len(source['data']):,} base64 characters left out]"
    return out


def _nested_blocks(content: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict):
                found.append(block)
                found += _nested_blocks(block.get("content"))
    return found


def estimate_tokens(value: Any, chars_per_token: int = 4) -> int:
    """Tokens of ``value`` by its JSON size, an image counted as ``IMAGE_TOKENS``."""
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

    size = len(json.dumps(strip(value), ensure_ascii=False, sort_keys=True))
    return max(1, size // chars_per_token) + images * IMAGE_TOKENS
