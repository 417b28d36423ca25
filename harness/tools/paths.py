"""Confining a model-supplied path to the worktree (one that leaves it is refused)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from harness.errors import ToolError

MAX_PATH = 1024
_ENCODED = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)
_DENIED_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))


def resolve_inside(worktree: Path, user_path: str) -> Path:
    """The real path ``user_path`` names inside ``worktree``, or a ``ToolError`` saying why not.

    ``./a``, ``a//b``, ``a/../b`` and symlinks that stay inside work, and "" is the worktree;
    anything that resolves outside, anything under ``.git``, NUL bytes and encoded separators
    are refused. ``user_path`` is text: each tool's schema checked its input first.
    """
    root = worktree.resolve()
    shown = user_path[:200]
    if "\x00" in user_path:
        raise ToolError(f"path {shown!r} contains a NUL byte")
    if len(user_path) > MAX_PATH:
        raise ToolError(f"path is {len(user_path)} characters long; the limit is {MAX_PATH}")
    if _ENCODED.search(user_path):
        raise ToolError(f"path {shown!r} contains URL-encoded characters; use plain paths")
    if "\\" in user_path:
        raise ToolError(f"path {shown!r} contains a backslash; use / between folders")
    if user_path.startswith("~"):
        raise ToolError(
            f"path {shown!r} refers to a home folder; paths are relative to the repository"
        )
    raw = Path(user_path.strip() or ".")
    candidate = raw if raw.is_absolute() else root / raw
    resolved = Path(os.path.realpath(candidate))
    if resolved != root and root not in resolved.parents:
        for denied in _DENIED_ROOTS:
            if denied in (resolved, *resolved.parents, candidate, *candidate.parents):
                raise ToolError(
                    f"path {shown!r} is outside the repository ({denied} is never readable)"
                )
        raise ToolError(f"path {shown!r} resolves outside the repository; use a path inside it")
    relative = resolved.relative_to(root)
    if relative.parts and relative.parts[0].casefold() == ".git":
        raise ToolError(f"path {shown!r} is inside .git, which agents may not touch")
    return resolved


def relative(worktree: Path, path: Path) -> str:
    return path.relative_to(worktree.resolve()).as_posix() or "."
