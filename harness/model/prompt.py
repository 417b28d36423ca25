"""Building requests: the governance prefix marked for caching, and the moving breakpoint."""

from __future__ import annotations

import copy
from typing import Any

EPHEMERAL = {"type": "ephemeral"}
MAX_BREAKPOINTS = 4


def governance_block(governance: list[tuple[str, str]]) -> str:
    """The governance files verbatim, in order, each under a header naming it."""
    parts = [
        f'<governance_file name="{name}">\n{text}\n</governance_file>' for name, text in governance
    ]
    return "\n\n".join(parts)


def system_blocks(governance: list[tuple[str, str]], instructions: str) -> list[dict[str, Any]]:
    """System prompt: governance first (cache breakpoint 1), then the role's instructions
    (breakpoint 2). Same governance -> byte-identical prefix across calls and agents."""
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": governance_block(governance), "cache_control": dict(EPHEMERAL)}
    ]
    if instructions.strip():
        blocks.append({"type": "text", "text": instructions, "cache_control": dict(EPHEMERAL)})
    return blocks


def with_moving_breakpoint(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of ``messages`` with one cache breakpoint on the last block of the newest turn
    (and none elsewhere), so the growing conversation is cached as it goes."""
    out = copy.deepcopy(messages)
    for message in out:
        content = message.get("content")
        if isinstance(content, list):
            for block in content:
                block.pop("cache_control", None)
    if out:
        content = out[-1].get("content")
        if isinstance(content, str):
            out[-1]["content"] = [
                {"type": "text", "text": content, "cache_control": dict(EPHEMERAL)}
            ]
        elif isinstance(content, list) and content:
            content[-1]["cache_control"] = dict(EPHEMERAL)
    return out
