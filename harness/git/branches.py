"""Branch names the factory may write: ``factory/issue-<N>-<salt>``, safe for any title (B15)."""

from __future__ import annotations

import hashlib
import re

PREFIX = "factory/issue-"
_FACTORY = re.compile(r"^factory/issue-[1-9][0-9]{0,9}-[0-9a-f]{8}$")


def branch_name(issue: int, title: str, salt: str | None = None) -> str:
    """``factory/issue-<N>-<8 hex>``: the title only feeds a hash, so it cannot shape the name."""
    if issue < 1:
        raise ValueError("issue numbers start at 1")
    seed = salt if salt is not None else ""
    digest = hashlib.sha256(f"{issue}\0{title}\0{seed}".encode()).hexdigest()[:8]
    return f"{PREFIX}{issue}-{digest}"


def is_factory_branch(name: str) -> bool:
    """The applier writes only branches of this exact shape."""
    return bool(_FACTORY.match(name))


def issue_of(name: str) -> int | None:
    """The issue a factory branch was made for (None: not a factory branch)."""
    return int(name[len(PREFIX) :].split("-")[0]) if is_factory_branch(name) else None
