"""Cost of a call from its usage and a price table per model (``workflows/prices.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.model.base import Usage
from harness.model.catalog import base_id, price_table


@dataclass(frozen=True)
class Price:
    """USD per million tokens for one model."""

    input: float
    output: float
    cache_write: float  # 5-minute cache writes
    cache_write_1h: float
    cache_read: float
    long_above: int | None = None  # a prompt above this many tokens pays long_factor times
    long_factor: float = 1.0

    @classmethod
    def from_yaml(cls, entry: dict[str, Any]) -> Price:
        long = entry.get("long_prompt")
        return cls(
            input=float(entry["input"]),
            output=float(entry["output"]),
            cache_write=float(entry["cache_write"]),
            cache_write_1h=float(entry["cache_write_1h"]),
            cache_read=float(entry["cache_read"]),
            long_above=int(long["above_tokens"]) if isinstance(long, dict) else None,
            long_factor=float(long["factor"]) if isinstance(long, dict) else 1.0,
        )


def price_of(model: str) -> tuple[Price, bool]:
    """The model's prices and whether the id was listed.

    An unlisted id is priced like the most expensive listed model, never as free."""
    models: dict[str, dict[str, Any]] = price_table()["models"]
    entry = models.get(model) or models.get(base_id(model))
    if entry is not None:
        return Price.from_yaml(entry), True
    top = max(models.values(), key=lambda p: float(p["output"]))
    return Price.from_yaml(top), False


def cost_usd(model: str, usage: Usage, batch: bool = False) -> float:
    p, _ = price_of(model)
    write_1h = min(usage.cache_creation_1h_input_tokens, usage.cache_creation_input_tokens)
    write_5m = usage.cache_creation_input_tokens - write_1h
    prompt = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
    factor = p.long_factor if p.long_above is not None and prompt > p.long_above else 1.0
    total = (
        usage.input_tokens * p.input
        + write_5m * p.cache_write
        + write_1h * p.cache_write_1h
        + usage.cache_read_input_tokens * p.cache_read
        + usage.output_tokens * p.output
    ) / 1_000_000
    total *= factor
    return total * (float(price_table()["batch_factor"]) if batch else 1.0)
