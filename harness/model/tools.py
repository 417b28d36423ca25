"""Tool definitions (names, descriptions, JSON schemas) from ``workflows/tools.yaml``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar

from harness.errors import ConfigError, ToolError
from harness.model.blocks import Handler, ToolDef, ToolOutput
from harness.paths import shipped_yaml

T = TypeVar("T")


@cache
def _catalogue() -> dict[str, ToolDef]:
    """The declared tools by name (shared: never changed). The file is the harness's own, read
    as shipped: each name the API's shape, each schema a valid JSON Schema 2020-12 of an
    object, as ``tests/tools/test_file_tools.py`` checks."""
    return {
        name: {
            "name": name,
            "description": spec["description"],
            "input_schema": spec["input_schema"],
        }
        for name, spec in shipped_yaml("tools.yaml")["tools"].items()
    }


def known_tools() -> list[str]:
    return sorted(_catalogue())


def tool_defs(names: list[str]) -> list[ToolDef]:
    """The definitions, in the order given (a stable order keeps the cache prefix)."""
    tools = _catalogue()
    unknown = [n for n in names if n not in tools]
    if unknown:
        raise ConfigError("workflow", "tools", f"unknown tools {unknown}")
    return [tools[n] for n in names]


def validate_input(name: str, data: Any) -> str | None:
    """Why ``data`` does not fit tool ``name``'s schema, or None if it fits."""
    import jsonschema

    schema = _catalogue()[name]["input_schema"]
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
    return str(shipped_yaml("tools.yaml")[key]).format(**values)


@dataclass(frozen=True)
class Tool(Generic[T]):
    """A declared tool and what it does: its input (the model's JSON) is checked against the
    tool's schema where it enters, then read into ``takes`` (a record whose fields are the
    schema's properties) and handed to ``run``. Input that does not fit is a ``ToolError``
    saying where, the answer the model reads."""

    name: str
    takes: Callable[..., T]
    run: Callable[[T], str | ToolOutput]

    def read(self, data: object) -> T:
        problem = validate_input(self.name, data)
        if problem is not None:
            raise ToolError(f"invalid input for {self.name}: {problem}")
        assert isinstance(data, dict)  # every tool's schema is an object's
        try:
            return self.takes(**data)
        except TypeError as exc:  # a schema that lets through what its record cannot take
            raise ToolError(f"invalid input for {self.name}: {exc}") from exc

    def __call__(self, data: object) -> str | ToolOutput:
        return self.run(self.read(data))


@dataclass(frozen=True)
class Nothing:
    """The input of a tool that takes none."""


def by_name(*tools: Tool[Any]) -> dict[str, Handler]:
    return {tool.name: tool for tool in tools}
