"""Branch names the factory may write: ``factory/issue-<N>-<salt>``, safe for any title (B15),
and a lesson's ``factory/lesson-<12 hex>`` (harness/lessons)."""

from __future__ import annotations

import re

from harness.digest import sha256

PREFIX = "factory/issue-"
_FACTORY = re.compile(r"^factory/(?:issue-([1-9][0-9]{0,9})-[0-9a-f]{8}|lesson-[0-9a-f]{12})$")


def branch_name(issue: int, title: str, salt: str) -> str:
    """``factory/issue-<N>-<8 hex>``: the title only feeds a hash, so it cannot shape the name."""
    if issue < 1:
        raise ValueError("issue numbers start at 1")
    digest = sha256(f"{issue}\0{title}\0{salt}")[:8]
    return f"{PREFIX}{issue}-{digest}"


def is_factory_branch(name: str) -> bool:
    """The applier writes only branches of these exact shapes: an issue's, a lesson's."""
    return bool(_FACTORY.match(name))


def issue_of(name: str) -> int | None:
    """The issue a factory branch was made for (None: not an issue's branch)."""
    found = _FACTORY.match(name)
    return int(found[1]) if found and found[1] else None
