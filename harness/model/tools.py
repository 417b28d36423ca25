"""Tool definitions (names, descriptions, JSON schemas) from ``workflows/tools.yaml``."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from harness.errors import ConfigError
from harness.paths import shipped_yaml

NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@cache
def _catalogue() -> dict[str, Any]:
    import jsonschema  # when first needed: a command that reads no tool (factory check) skips it

    data: dict[str, Any] = shipped_yaml("tools.yaml")
    for name, spec in data["tools"].items():
        if not NAME.match(name):
            raise ConfigError("workflows/tools.yaml", f"tools.{name}", "invalid tool name")
        schema = spec["input_schema"]
        if schema.get("type") != "object":
            raise ConfigError(
                "workflows/tools.yaml", f"tools.{name}", "input_schema must be an object"
            )
        jsonschema.Draft202012Validator.check_schema(schema)
    return data


def known_tools() -> list[str]:
    return sorted(_catalogue()["tools"])


def tool_defs(names: list[str]) -> list[dict[str, Any]]:
    """API-shaped definitions, in the order given (a stable order keeps the cache prefix)."""
    tools = _catalogue()["tools"]
    unknown = [n for n in names if n not in tools]
    if unknown:
        raise ConfigError("workflow", "tools", f"unknown tools {unknown}")
    return [
        {
            "name": n,
            "description": tools[n]["description"],
            "input_schema": tools[n]["input_schema"],
        }
        for n in names
    ]


def validate_input(name: str, data: Any) -> str | None:
    """Why ``data`` does not fit tool ``name``'s schema, or None if it fits."""
    import jsonschema

    schema = _catalogue()["tools"][name]["input_schema"]
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path)
    )
    if not errors:
        return None
    first = errors[0]
    where = "/".join(str(p) for p in first.path) or "(input)"
    return f"{where}: {first.message}"[:500]


def message(key: str, **values: str) -> str:
    """A model-facing message from tools.yaml (``reminder``, ``invalid_output``)."""
    return str(_catalogue()[key]).format(**values)
