"""Which model ids exist, which are deprecated (and until when), and what each accepts.

The ids and the end-of-life dates come from the installed ``anthropic`` SDK (its model
literal and the deprecation table it warns from), so a newer SDK brings newer data;
``workflows/models.yaml`` adds what the documentation says each model accepts, and
``workflows/prices.yaml`` what it costs."""

from __future__ import annotations

import contextlib
import importlib
import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any, get_args

import yaml

from harness.paths import workflows_dir

_DATED = re.compile(r"^(?P<base>.+)-\d{8}$")
_ORDINAL = re.compile(r"(\d+)(st|nd|rd|th)\b")


@dataclass(frozen=True)
class Listing:
    """One model as the API's model list (``GET /v1/models``) shows it."""

    id: str
    lifecycle: str  # "active" | "deprecated" | "retired"
    retires_at: date | None = None


@dataclass(frozen=True)
class Accepts:
    """What a request to this model may carry without a 400, and how it thinks unasked."""

    thinking_off: str | None  # "disabled" | "between_tools" | None: thinking cannot be off
    forced_tool_choice: bool
    effort: bool
    thinks_by_default: bool = False  # a request without a thinking field thinks
    default_effort: str = "high"  # the effort of a request without one
    off_up_to: str | None = None  # thinking turns off only at this effort or below

    def thinks(self, thinking: str | None) -> bool:
        """Whether a request with this ``thinking`` setting (None: unset) may think: asked
        to, by default, because it cannot be off, or between tool calls (``between_tools``,
        how some models turn off only the thinking before their first tool call)."""
        if thinking == "off":
            return self.thinking_off != "disabled"
        return thinking == "adaptive" or self.thinks_by_default


@cache
def _deprecated() -> dict[str, Any]:
    """The SDK's deprecation table (read when first needed: the SDK takes a second to import,
    and most commands never ask)."""
    # the SDK's own table moved between releases (anthropic._data from 2.13 on)
    for module in ("anthropic._data", "anthropic.resources.messages.messages"):
        with contextlib.suppress(ImportError):
            table = getattr(importlib.import_module(module), "DEPRECATED_MODELS", None)
            if isinstance(table, dict):
                return dict(table)
    return {}


@cache
def _sdk_ids() -> frozenset[str]:
    from anthropic.types.model_param import ModelParam

    ids: set[str] = set()
    for arg in get_args(ModelParam):
        ids.update(a for a in get_args(arg) if isinstance(a, str))
    return frozenset(ids)


@cache
def _table(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((workflows_dir() / name).read_text("utf-8"))
    return data


def base_id(model: str) -> str:
    """``claude-sonnet-4-5-20250929`` -> ``claude-sonnet-4-5``; other ids unchanged."""
    match = _DATED.match(model)
    return match.group("base") if match else model


def known_ids() -> frozenset[str]:
    """Every model id this installation can know of (SDK, deprecations, prices, rules)."""
    return (
        _sdk_ids()
        | frozenset(_deprecated())
        | frozenset(_table("prices.yaml")["models"])
        | frozenset(_table("models.yaml")["models"])
    )


def is_known(model: str) -> bool:
    known = known_ids()
    return model in known or base_id(model) in known


def end_of_life(model: str) -> date | None:
    """The end-of-life date the SDK warns about for ``model``, or None if not deprecated."""
    raw = _deprecated().get(model) or _deprecated().get(base_id(model))
    if raw is None:
        return None
    try:  # the SDK writes "November 30th, 2026"
        return datetime.strptime(_ORDINAL.sub(r"\1", raw), "%B %d, %Y").date()
    except ValueError:
        return None


def accepts(model: str) -> Accepts:
    table = _table("models.yaml")
    entry = {**table["defaults"], **(table["models"].get(base_id(model)) or {})}
    return Accepts(
        thinking_off=entry["thinking_off"],
        forced_tool_choice=bool(entry["forced_tool_choice"]),
        effort=bool(entry["effort"]),
        thinks_by_default=bool(entry["thinks_by_default"]),
        default_effort=str(entry["default_effort"]),
        off_up_to=entry.get("off_up_to"),
    )


EFFORTS = ("low", "medium", "high", "xhigh", "max")  # in order


def thinking_floor(effort: str) -> tuple[int, int]:
    """(the output tokens the factory sizes thinking at for ``effort``, the room kept for the
    answer after it): a thinking role's max_tokens must hold both (``workflows/models.yaml``)."""
    table = _table("models.yaml")
    return int(table["thinking_room"][effort]), int(table["answer_room"])


def price_table() -> dict[str, Any]:
    return _table("prices.yaml")


def listed(model: str, listings: dict[str, Listing]) -> Listing | None:
    """``model``'s entry in an API model list (an alias matches its dated snapshots)."""
    alias = (v for k, v in sorted(listings.items()) if base_id(k) == model)
    return listings.get(model) or next(alias, None)
