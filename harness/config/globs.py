"""Repository globs as ``protected_paths`` uses them: validated, and matched against paths.

``**`` spans any number of folders, ``*`` and ``?`` stay within one folder, ``[abc]`` and
``[!abc]`` are character classes, and a trailing ``/`` names a folder and everything under
it. A pattern without ``/`` matches a file of that name in any folder. Matching ignores
case, so ``Mission.md`` is as protected as ``mission.md``.
"""

from __future__ import annotations

import re


def glob_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable repository glob, or None."""
    if not pattern.strip():
        return "an empty pattern"
    if pattern != pattern.strip():
        return f"{pattern!r} has leading or trailing spaces"
    if pattern.startswith("/") or re.match(r"^[A-Za-z]:", pattern):
        return f"{pattern!r} is absolute; patterns are relative to the repository root"
    if "\\" in pattern:
        return f"{pattern!r} uses backslashes; use /"
    if ".." in pattern.split("/"):
        return f"{pattern!r} leaves the repository ('..')"
    if "\0" in pattern:
        return f"{pattern!r} contains a NUL byte"
    depth = 0
    for char in pattern:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth not in (0, 1):
            return f"{pattern!r} has unbalanced [ ]"
    if depth:
        return f"{pattern!r} has unbalanced [ ]"
    try:
        glob_regex(pattern)
    except re.error as exc:
        return f"{pattern!r} is not a valid pattern ({exc.msg})"
    return None


def _char_class(body: str) -> str:
    if body.startswith("!"):
        body = "^" + body[1:]
    return "[" + body.replace("\\", "\\\\") + "]"


def glob_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` as an anchored, case-insensitive regular expression over repo paths."""
    if pattern.endswith("/"):
        pattern += "**"
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out += "(?:/|)"  # "a/**/b" also matches "a/b"
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i + 1)) > i + 1:
            out += _char_class(pattern[i + 1 : end])
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    anywhere = "" if "/" in pattern else "(?:.*/)?"
    return re.compile(f"^{anywhere}{out}$", re.IGNORECASE)


def matching(path: str, patterns: list[str]) -> list[str]:
    """The patterns among ``patterns`` that match the repository path ``path``."""
    return [p for p in patterns if glob_regex(p).match(path)]
