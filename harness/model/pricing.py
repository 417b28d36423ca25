"""Cost of a call from its usage and a price table per model (``workflows/prices.yaml``)."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from harness.model.base import Usage
from harness.paths import workflows_dir


@cache
def _table() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((workflows_dir() / "prices.yaml").read_text("utf-8"))
    return data


def price(model: str) -> tuple[float, float, bool]:
    """(input, output) USD per million tokens, and whether the model id was known.

    An unknown model id is priced like the most expensive known one, never as free.
    """
    models: dict[str, dict[str, float]] = _table()["models"]
    for known, p in models.items():
        if model == known or model.startswith(known + "-"):
            return float(p["input"]), float(p["output"]), True
    top = max(models.values(), key=lambda p: p["output"])
    return float(top["input"]), float(top["output"]), False


def cost_usd(model: str, usage: Usage, batch: bool = False) -> float:
    table = _table()
    p_in, p_out, _ = price(model)
    total = (
        usage.input_tokens * p_in
        + usage.cache_creation_input_tokens * p_in * float(table["cache_write_factor"])
        + usage.cache_read_input_tokens * p_in * float(table["cache_read_factor"])
        + usage.output_tokens * p_out
    ) / 1_000_000
    return total * (float(table["batch_factor"]) if batch else 1.0)
