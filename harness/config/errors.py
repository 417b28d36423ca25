"""Turning pydantic and YAML errors into ``file: key: what is wrong`` lines."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from harness.errors import ConfigError, ConfigErrors

M = TypeVar("M", bound=BaseModel)

_KEYED = re.compile(r"^([A-Za-z_][\w.]*): (.+)$", re.DOTALL)


@dataclass
class Findings:
    """What a check of the configuration found: errors stop every command; warnings and
    notes are for the maintainer to read (``factory check`` prints them all)."""

    errors: list[ConfigError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def dotted(loc: tuple[Any, ...], prefix: str = "") -> str:
    out = ""
    for item in (i for i in loc if i != "[key]"):  # a mapping's key: the key's own path
        out += f"[{item}]" if isinstance(item, int) else ("." if out or prefix else "") + str(item)
    return (prefix + out) if prefix else (out or "(top)")


def _message(err: ErrorDetails) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required, but missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        msg = "must be a mapping of keys to values"
    msg = msg.removeprefix("Value error, ")
    for lead in ("Input should be", "Value should be"):
        if msg.startswith(lead):
            msg = "must be" + msg.removeprefix(lead)
    if kind.endswith(("_type", "_parsing", "literal_error", "finite_number")):
        got = err["input"]
        shown = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
        return f"{msg} (got {shown[:80]})"
    return msg


def _keys(model: type[BaseModel] | None) -> set[str]:
    """Every key ``model`` and the models inside it know (a misspelling's candidates)."""
    schema = model.model_json_schema() if model else {}
    return {
        key
        for part in [schema, *schema.get("$defs", {}).values()]
        for key in part.get("properties", {})
    }


def problems_from(
    file: str, exc: ValidationError, prefix: str = "", model: type[BaseModel] | None = None
) -> list[ConfigError]:
    """One problem per error; an unknown key of ``model``'s names the key it is closest to."""
    out: list[ConfigError] = []
    for err in exc.errors():
        loc = err["loc"]
        message = _message(err)
        if err["type"] == "extra_forbidden":
            close = get_close_matches(str(loc[-1]), _keys(model), n=1)
            message += f" (did you mean {close[0]!r}?)" if close else ""
        keyed = _KEYED.match(message)
        if keyed:  # a model-level check naming its own key
            loc = (*loc, *keyed.group(1).split("."))
            message = keyed.group(2)
        out.append(ConfigError(file, dotted(loc, prefix), message))
    return out


def validated(model: type[M], data: Any, file: str, prefix: str = "") -> M:
    """``data`` as ``model``, or ConfigErrors: one line per problem, naming ``file`` (and an
    unknown key the key it is closest to)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigErrors(problems_from(file, exc, prefix, model)) from exc


def yaml_problem(file: str, exc: yaml.YAMLError) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}" if mark is not None else "(top)"
    problem = getattr(exc, "problem", None) or "invalid YAML"
    return ConfigError(file, where, f"invalid YAML: {problem}")
