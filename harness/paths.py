"""Where the shipped data folders (workflows/, validators/) live, and what a path the factory
is given (an option, an environment variable, factory.yaml) may be.

In a wheel the data folders are package data under ``harness/``; in a source checkout they
sit beside the package at the repository root.
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

_PKG = Path(__file__).resolve().parent
FLOWS = ".factory/workflows"  # a repository's workflow overrides (docs/workflows.md)


def _limit(name: str, default: int) -> int:
    try:
        return os.pathconf("/", name)
    except (OSError, ValueError):
        return default


PATH_MAX = _limit("PC_PATH_MAX", 4096)  # bytes of a whole path, as the system takes it
NAME_MAX = _limit("PC_NAME_MAX", 255)  # bytes of one of its names


def clip(text: str, keep: int = 60) -> str:
    """``text`` shortened for a one-line message: its start and end around an ellipsis."""
    return text if len(text) <= keep else f"{text[: keep - 20]}…{text[-19:]}"


def path_problem(text: str) -> str | None:
    """Why ``text`` cannot name a path here, in a few words, or None: a control character,
    or more bytes than the system takes in a whole path (once made absolute) or in one name.
    Nothing is looked up on disk."""
    for index, char in enumerate(text):
        if unicodedata.category(char) == "Cc":
            return f"control character U+{ord(char):04X} at position {index + 1}"
    if not text:
        return "empty"
    size = len(str(Path.cwd() / text).encode("utf-8", "surrogateescape"))
    if size >= PATH_MAX:
        return f"{clip(text)!r} is {size:,} bytes long as a full path (at most {PATH_MAX - 1:,})"
    longest = max(Path(text).parts, key=len, default="")  # "." has no parts
    if len(longest.encode("utf-8", "surrogateescape")) > NAME_MAX:
        return f"{clip(longest)!r}: a name longer than {NAME_MAX} bytes"
    return None


def write_whole(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all: into a file of its own beside it (no
    other writer's, in any thread or process), then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(dir=path.parent, suffix=".part")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    Path(part).replace(path)


def data_dir(name: str) -> Path:
    """Return the shipped data folder ``name`` (``workflows`` or ``validators``)."""
    for candidate in (_PKG / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"shipped data folder {name!r} is missing from the installation")


def shipped_text(folder: str, name: str) -> str:
    """The shipped ``<folder>/<name>.yaml`` (a workflow, a validator) as text; one a folder
    does not hold is a configuration error."""
    path = data_dir(folder) / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"{folder}/{name}.yaml", "(file)", f"no such {folder.removesuffix('s')}")
    return path.read_text(encoding="utf-8")


def workflows_dir() -> Path:
    return data_dir("workflows")


def validators_dir() -> Path:
    return data_dir("validators")


@cache
def shipped_yaml(*parts: str) -> Any:
    """The shipped data file ``workflows/<parts>`` as YAML reads it, read once per process: the
    one copy every caller shares, so none may change it."""
    import yaml  # when first needed: a command that reads no shipped data starts without it

    return yaml.load(workflows_dir().joinpath(*parts).read_text("utf-8"), yaml.CSafeLoader)
