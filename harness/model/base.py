"""The ``Model`` protocol: one Messages API call in, one Messages API response out.

Requests and responses are plain dicts shaped exactly like the Anthropic Messages API
(``Request`` and ``Response`` name the keys the factory uses), so a real model, the scripted
model and a replayed recording are interchangeable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from harness.model.blocks import Counted, Request, Response


class Model(Protocol):
    """Something that answers Messages API requests."""

    kind: str  # "anthropic" | "scripted" | "replay" | "recording"

    def create(self, request: Request) -> Response:
        """Answer one request. Raises ``ModelError``, ``QuotaError`` or ``DeferredError``."""
        ...


@dataclass(frozen=True)
class Usage:
    """Token counts of one call, as the API reports them."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_1h_input_tokens: int = 0  # the part of the cache writes kept for an hour

    @classmethod
    def from_response(cls, response: Response) -> Usage:
        raw: Counted = response.get("usage") or {}
        split = raw.get("cache_creation") or {}
        return cls(
            input_tokens=int(raw.get("input_tokens") or 0),
            output_tokens=int(raw.get("output_tokens") or 0),
            cache_creation_input_tokens=int(raw.get("cache_creation_input_tokens") or 0),
            cache_read_input_tokens=int(raw.get("cache_read_input_tokens") or 0),
            cache_creation_1h_input_tokens=int(split.get("ephemeral_1h_input_tokens") or 0),
        )


@dataclass(frozen=True)
class CallRecord:
    """One model call as the engine persists it."""

    model: str
    usage: Usage
    cost_usd: float
    duration_s: float
    request_sha256: str
    stop_reason: str | None = None
    error: str | None = None
