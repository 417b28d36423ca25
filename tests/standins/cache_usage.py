"""The stand-in's prompt-cache accounting: a request's input tokens split like the API's
usage (cache reads, cache writes by lifetime, the rest) from its cache breakpoints."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from harness.model.blocks import estimate_tokens


def prompt_usage(body: dict[str, Any], cache: set[str]) -> dict[str, Any]:
    """Usage of ``body``'s prompt; ``cache`` (the prefixes cached so far) gains its own."""
    blocks: list[Any] = list(body.get("tools", []))
    system = body.get("system")
    blocks += [system] if isinstance(system, str) else list(system or [])
    for message in body["messages"]:
        content = message["content"]
        blocks += [content] if isinstance(content, str) else list(content)
    digest, total = hashlib.sha256(), 0
    marks: list[tuple[str, int, str]] = []
    for block in blocks:
        plain = (
            {k: v for k, v in block.items() if k != "cache_control"}
            if isinstance(block, dict)
            else block
        )
        digest.update(json.dumps(plain, sort_keys=True).encode())
        total += estimate_tokens(plain)
        if isinstance(block, dict) and "cache_control" in block:
            ttl = str(block["cache_control"].get("ttl") or "5m")
            marks.append((digest.hexdigest(), total, ttl))
    read = created = hour = 0
    for key, upto, _ in marks:
        if key in cache:
            read = upto
    done = read
    for key, upto, ttl in marks:
        if upto > done:
            created += upto - done
            hour += (upto - done) if ttl == "1h" else 0
            done = upto
        cache.add(key)
    return {
        "input_tokens": total - read - created,
        "cache_creation_input_tokens": created,
        "cache_read_input_tokens": read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": created - hour,
            "ephemeral_1h_input_tokens": hour,
        },
    }
