"""Building requests: the governance prefix marked for caching, and the moving breakpoint."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import cast

from harness.errors import ConfigError
from harness.model.blocks import Block, Message, Request
from harness.model.catalog import accepts

EPHEMERAL = MappingProxyType({"type": "ephemeral"})
GOVERNANCE = "governance_file"  # the tag each governance file is given to agents in
_UNMARKABLE = frozenset(("thinking", "redacted_thinking"))


def unclosable(text: str, *tags: str) -> str:
    """``text`` where no ``<tag`` or ``</tag`` of ``tags`` can open or close the harness's
    wrapper (``</governance_file>``, a fake ``</issue>``: B9): its ``<`` shown as ``‹``. The
    same text is always escaped alike, so a prompt's prefix stays cacheable."""
    names = "|".join(map(re.escape, tags))
    return re.sub(rf"<(/?\s*(?:{names})\b)", r"‹\1", text, flags=re.IGNORECASE)


def system_blocks(governance: list[tuple[str, str]], instructions: str) -> list[Block]:
    """System prompt: the governance files verbatim, in order, each under a header naming it
    (cache breakpoint 1; no file's text can open or close that header: ``unclosable``), then
    the role's instructions (breakpoint 2). Same governance -> byte-identical prefix across
    calls and agents."""
    files = [
        f'<{GOVERNANCE} name="{n}">\n{unclosable(text, GOVERNANCE)}\n</{GOVERNANCE}>'
        for n, text in governance
    ]
    text = "\n\n".join(files)
    blocks: list[Block] = [{"type": "text", "text": text, "cache_control": dict(EPHEMERAL)}]
    if instructions.strip():
        blocks.append({"type": "text", "text": instructions, "cache_control": dict(EPHEMERAL)})
    return blocks


def with_moving_breakpoint(messages: list[Message]) -> list[Message]:
    """A copy of ``messages`` with one cache breakpoint on the last block of the newest turn
    that can carry one (and none elsewhere), so the growing conversation is cached as it goes.
    Only what changes is copied (each turn's list of blocks, and a block whose mark moves):
    the rest is shared with ``messages``, which stay as they were."""
    out: list[Message] = [
        {**message, "content": [_unmarked(block) for block in message["content"]]}
        for message in messages
    ]
    # a thinking block cannot carry cache_control (a paused assistant turn can be last)
    blocks = out[-1]["content"] if out else []
    last = max((i for i, b in enumerate(blocks) if b["type"] not in _UNMARKABLE), default=None)
    if last is not None:
        blocks[last] = cast(Block, {**blocks[last], "cache_control": dict(EPHEMERAL)})
    return out


def _unmarked(block: Block) -> Block:
    if "cache_control" not in block:
        return block
    return cast(Block, {k: v for k, v in block.items() if k != "cache_control"})


def call_options(request: Request, role: str, thinking: str | None, effort: str | None) -> None:
    """Set the request fields for a role's thinking and effort settings, as the API takes them
    (``thinking``; ``output_config.effort``); unset settings leave the model's defaults."""
    model = request["model"]
    if thinking == "adaptive":
        request["thinking"] = {"type": "adaptive"}
    elif thinking == "off":
        off = accepts(model).thinking_off
        if off is None:
            raise ConfigError(
                "factory.yaml", f"thinking.{role}", f"{model} cannot turn thinking off"
            )
        request["thinking"] = {"type": off}
    if effort is not None:
        request["output_config"] = {"effort": effort}
