"""Safe YAML for files a maintainer edits: syntax errors and duplicate keys name their line."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from harness.config.errors import M, validated, yaml_problem
from harness.errors import ConfigError


class FileModel(BaseModel):
    """What a YAML file of the factory's holds, once read (a workflow, a validator's
    definition, the map's rules, a backtest's manifest, a hold-out journey, the scripted
    model's rules): a key it does not know is an error, and nothing changes it after."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(eq=False)
class _DuplicateKey(Exception):
    key: str
    line: int


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping naming a key twice (YAML would keep the last). The
    pure-Python parser for a text libyaml refuses: libyaml's marks the input's end, not the
    mistake's line."""


class _FastLoader(yaml.CSafeLoader):
    """The same on libyaml, ten times faster (every command reads factory.yaml and the rules)."""


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        plain = isinstance(key, (str, int, float, bool))
        if plain and key in seen:
            raise _DuplicateKey(str(key), key_node.start_mark.line)
        seen.add(key if plain else id(key_node))
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_FastLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(text: str, file: str) -> Any:
    """The data in ``text``; ConfigError ``file: line N: ...`` when it is not valid YAML
    (a part of ``file``, front matter, is given with the lines above it blank, so that N is
    the file's)."""
    with contextlib.suppress(_DuplicateKey, yaml.YAMLError):  # said by the one that names lines
        return yaml.load(text, Loader=_FastLoader)  # noqa: S506 (a SafeLoader subclass)
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except _DuplicateKey as exc:
        raise ConfigError(file, f"line {exc.line + 1}", f"duplicate key {exc.key!r}") from None
    except yaml.YAMLError as exc:
        raise yaml_problem(file, exc) from exc


def load_model(
    model: type[M], text: str, file: str, top: str = "must be a mapping of keys to values"
) -> M:
    """YAML ``text`` of one mapping (an empty text: an empty mapping) as ``model``, or
    ConfigErrors: one line per problem, naming ``file``; ``top`` says what else it is."""
    data = load_yaml(text, file)
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(file, "(top)", top)
    return validated(model, data, file)
