"""Cost of a call from its usage and a price table per model (``workflows/prices.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from pydantic import TypeAdapter

from harness.model.base import Usage
from harness.model.catalog import base_id
from harness.paths import shipped_yaml


@dataclass(frozen=True)
class LongPrompt:
    """A request whose prompt is above ``above_tokens`` pays every rate ``factor`` times."""

    above_tokens: int
    factor: float


@dataclass(frozen=True)
class Price:
    """USD per million tokens for one model."""

    input: float
    output: float
    cache_write: float  # 5-minute cache writes
    cache_write_1h: float
    cache_read: float
    long_prompt: LongPrompt | None = None


@dataclass(frozen=True)
class Prices:
    """``workflows/prices.yaml``, read once."""

    batch_factor: float  # of a request answered within a Message Batch
    models: dict[str, Price]


@cache
def prices() -> Prices:
    return TypeAdapter(Prices).validate_python(shipped_yaml("prices.yaml"))


def price_of(model: str) -> Price:
    """The model's prices; an unlisted id is priced like the most expensive listed model,
    never as free."""
    models = prices().models
    price = models.get(model) or models.get(base_id(model))
    return price or max(models.values(), key=lambda p: p.output)


def cost_usd(model: str, usage: Usage, batch: bool = False) -> float:
    p = price_of(model)
    write_1h = min(usage.cache_creation_1h_input_tokens, usage.cache_creation_input_tokens)
    write_5m = usage.cache_creation_input_tokens - write_1h
    prompt = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
    long = p.long_prompt
    factor = long.factor if long is not None and prompt > long.above_tokens else 1.0
    total = (
        usage.input_tokens * p.input
        + write_5m * p.cache_write
        + write_1h * p.cache_write_1h
        + usage.cache_read_input_tokens * p.cache_read
        + usage.output_tokens * p.output
    ) / 1_000_000
    total *= factor
    return total * (prices().batch_factor if batch else 1.0)
