"""The stand-in's rule for thinking blocks, as the API states it: thinking and
redacted_thinking blocks must come back complete, unmodified and in order, each bound to the
exact conversation prefix (system, tools and every block before it) that produced it.

The stand-in signs each thinking block it answers with (an HMAC over the block and its
prefix) and remembers which blocks each answered turn carried; a later request that changes a
block, its prefix, or drops one from a turn it answered gets the API's 400."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from typing import Any

THINKING = ("thinking", "redacted_thinking")
MISSING = (
    "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
    "`{found}`. When `thinking` is enabled, a final `assistant` message must start with a "
    "thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). "
    "We recommend you include thinking blocks from previous turns."
)


def _plain(block: Any) -> Any:
    if isinstance(block, str):
        return {"type": "text", "text": block}
    return {k: v for k, v in block.items() if k != "cache_control" and v is not None}


def _pairs(body: dict[str, Any]) -> list[tuple[int, int, str, Any]]:
    """Every message block in order as (message index, block index, role, block)."""
    out: list[tuple[int, int, str, Any]] = []
    for i, message in enumerate(body.get("messages") or []):
        content = message.get("content")
        blocks = [content] if isinstance(content, str) else list(content or [])
        out += [(i, k, str(message.get("role")), _plain(b)) for k, b in enumerate(blocks)]
    return out


class ThinkingLedger:
    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._turns: dict[str, list[str]] = {}  # tool_use id -> the turn's thinking marks
        self._issued: dict[str, str] = {}  # mark -> digest of the prefix it was issued after
        self._lock = threading.Lock()

    def _head(self, body: dict[str, Any]) -> hashlib._Hash:
        head = hashlib.sha256()
        for part in (body.get("system"), body.get("tools")):
            parts = [part] if isinstance(part, str) else list(part or [])
            head.update(json.dumps([_plain(p) for p in parts], sort_keys=True).encode())
        return head

    def _mark(self, prefix: hashlib._Hash, block: dict[str, Any]) -> str:
        text = block.get("thinking") if block["type"] == "thinking" else block.get("data")
        body = prefix.hexdigest() + json.dumps([block["type"], text])
        return "sig_" + hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()

    def sign(self, body: dict[str, Any], content: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``content`` answered to ``body``, each thinking block signed for its prefix."""
        prefix = self._head(body)
        for *_, block in _pairs(body):
            prefix.update(json.dumps(block, sort_keys=True).encode())
        signed: list[dict[str, Any]] = []
        marks: list[str] = []
        for block in content:
            block = dict(block)
            if block.get("type") in THINKING:
                mark = self._mark(prefix.copy(), block)
                block["signature" if block["type"] == "thinking" else "data"] = mark
                marks.append(mark)
                with self._lock:
                    self._issued[mark] = prefix.hexdigest()
            prefix.update(json.dumps(_plain(block), sort_keys=True).encode())
            signed.append(block)
        with self._lock:
            for block in signed:
                if block.get("type") == "tool_use" and marks:
                    self._turns[str(block["id"])] = marks
        return signed

    def check(self, body: dict[str, Any]) -> str | None:
        """The API's 400 message if a thinking block was changed, moved or dropped."""
        prefix = self._head(body)
        for i, k, _, block in _pairs(body):
            kind = block.get("type")
            if kind in THINKING:
                sent = block.get("signature") if kind == "thinking" else block.get("data")
                if not sent or not self._valid(prefix.copy(), block, str(sent)):
                    return f"messages.{i}.content.{k}: Invalid `signature` in `{kind}` block"
            prefix.update(json.dumps(block, sort_keys=True).encode())
        return self._dropped(body)

    def _valid(self, prefix: hashlib._Hash, block: dict[str, Any], sent: str) -> bool:
        if block["type"] == "thinking":
            return hmac.compare_digest(self._mark(prefix, block), sent)
        with self._lock:  # redacted data is opaque: issued here, after this very prefix
            return self._issued.get(sent) == prefix.hexdigest()

    def _dropped(self, body: dict[str, Any]) -> str | None:
        messages = body.get("messages") or []
        for i, message in enumerate(messages):
            content = message.get("content")
            if message.get("role") != "assistant" or not isinstance(content, list):
                continue
            uses = [str(b.get("id")) for b in content if b.get("type") == "tool_use"]
            with self._lock:
                expected = next((self._turns[u] for u in uses if u in self._turns), None)
            if expected is None:
                continue
            present = [
                b.get("signature") if b.get("type") == "thinking" else b.get("data")
                for b in content
                if b.get("type") in THINKING
            ]
            n = len(expected)  # a resumed turn also holds the thinking of its paused part
            if not any(present[j : j + n] == expected for j in range(len(present) - n + 1)):
                found = next((b.get("type") for b in content if b.get("type") not in THINKING), "")
                return MISSING.format(i=i, found=found)
        return None
