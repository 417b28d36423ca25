"""Which model ids exist, which are deprecated (and until when), and what each accepts.

The ids and the end-of-life dates come from the installed ``anthropic`` SDK (its model
literal and the deprecation table it warns from), so a newer SDK brings newer data;
``workflows/models.yaml`` adds what the documentation says each model accepts, and
``workflows/prices.yaml`` what it costs."""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

from harness.paths import shipped_yaml
from harness.pysource import parse

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
def _sdk_value(module: str, name: str) -> ast.expr | None:
    """The expression the installed ``anthropic`` SDK assigns to ``name`` in ``module`` (a
    file under its folder), read from its source: the SDK takes seconds of CPU to import,
    and the model data it holds are literals. None when the file or the name is not there."""
    spec = importlib.util.find_spec("anthropic")  # found, not imported
    if spec is None or spec.origin is None:
        return None
    try:
        tree = parse((Path(spec.origin).parent / module).read_text("utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return getattr(node, "value", None)
    return None


@cache
def _deprecated() -> dict[str, str]:
    """The SDK's deprecation table (``anthropic._data``, where every release the harness
    takes keeps it), a model id's end-of-life date as it writes it; {} without one."""
    value = _sdk_value("_data/deprecated_models.py", "DEPRECATED_MODELS")
    with contextlib.suppress(ValueError, TypeError):  # not a literal: no table
        table = ast.literal_eval(value) if value is not None else None
        if isinstance(table, dict):
            return table
    return {}


@cache
def _sdk_ids() -> frozenset[str]:
    """The model ids of the SDK's ``ModelParam`` literal."""
    value = _sdk_value("types/model_param.py", "ModelParam")
    strings = ast.walk(value) if value is not None else ()
    return frozenset(
        n.value for n in strings if isinstance(n, ast.Constant) and isinstance(n.value, str)
    )


def base_id(model: str) -> str:
    """``claude-sonnet-4-5-20250929`` -> ``claude-sonnet-4-5``; other ids unchanged."""
    match = _DATED.match(model)
    return match.group("base") if match else model


def known_ids() -> frozenset[str]:
    """Every model id this installation can know of (SDK, deprecations, prices, rules)."""
    return _sdk_ids().union(
        _deprecated(), shipped_yaml("prices.yaml")["models"], shipped_yaml("models.yaml")["models"]
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
    table = shipped_yaml("models.yaml")
    return Accepts(**{**table["defaults"], **(table["models"].get(base_id(model)) or {})})


EFFORTS = ("low", "medium", "high", "xhigh", "max")  # in order


def thinking_floor(effort: str) -> tuple[int, int]:
    """(the output tokens the factory sizes thinking at for ``effort``, the room kept for the
    answer after it): a thinking role's max_tokens must hold both (``workflows/models.yaml``)."""
    table = shipped_yaml("models.yaml")
    return int(table["thinking_room"][effort]), int(table["answer_room"])


def listed(model: str, listings: dict[str, Listing]) -> Listing | None:
    """``model``'s entry in an API model list (an alias matches its dated snapshots)."""
    return listings.get(model) or next(
        (v for k, v in sorted(listings.items()) if base_id(k) == model), None
    )
