"""The one glob dialect of ``protected_paths``: validated here, and matched here for both
``factory check`` and the protected-paths gate. Its rules are gitignore's (read by the
``pathspec`` library) without negation, case-folded and compared in Unicode NFC, on paths as
git lists them with ``-z``: docs/configuration.md, "Protected paths", says each."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache
from itertools import accumulate

import pathspec


def glob_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable repository glob, or None."""
    if not pattern.strip():
        return "an empty pattern"
    if pattern != pattern.strip():
        return f"{pattern!r} has leading or trailing spaces"
    if pattern.startswith("/") or re.match(r"^[A-Za-z]:", pattern):
        return f"{pattern!r} is absolute; patterns are relative to the repository root"
    if pattern.startswith("!"):
        return f"{pattern!r} negates; protected paths can only be added, never taken out"
    if pattern.startswith("#"):
        return f"{pattern!r} starts with #, which gitignore reads as a comment"
    if "\\" in pattern:
        return f"{pattern!r} uses backslashes; use /"
    if ".." in pattern.split("/"):
        return f"{pattern!r} leaves the repository ('..')"
    if "\0" in pattern:
        return f"{pattern!r} contains a NUL byte"
    depths = list(accumulate({"[": 1, "]": -1}.get(char, 0) for char in pattern))
    if not set(depths) <= {0, 1} or depths[-1]:  # ] before [, [ inside [ ], or [ left open
        return f"{pattern!r} has unbalanced [ ]"
    try:
        _spec(pattern)
    except (re.error, ValueError, TypeError) as exc:
        return f"{pattern!r} is not a valid pattern ({exc})"
    return None


def _fold(text: str) -> str:
    """Caseless and canonical: NFC of the case-folded NFC form."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())


@lru_cache(maxsize=1024)
def _spec(pattern: str) -> pathspec.GitIgnoreSpec:
    spec = pathspec.GitIgnoreSpec.from_lines([_fold(pattern)])
    for compiled in spec.patterns:  # compile every regex now, so a bad class fails here
        regex = getattr(compiled, "regex", None)
        if isinstance(regex, re.Pattern):
            re.compile(regex.pattern)
    return spec


def matching(path: str, patterns: Sequence[str]) -> list[str]:
    """The patterns among ``patterns`` that match the repository path ``path``."""
    folded = _fold(path)
    return [p for p in patterns if _spec(p).match_file(folded)]


def protected_hits(paths: list[str], patterns: list[str]) -> list[tuple[str, str]]:
    """(path, pattern) for every path a pattern protects."""
    return [(path, pat) for path in paths for pat in matching(path, patterns)]


def gitignore(text: str) -> Callable[[str], bool]:
    """A ``.gitignore`` file's rules as git reads them (negations and case as written): the
    test of a path relative to its folder (a folder's with a trailing ``/``)."""
    matches: Callable[[str], bool] = pathspec.GitIgnoreSpec.from_lines(text.splitlines()).match_file
    return matches
