"""The kinds of change: what triage's ``kind`` says an issue asks for (bug, feature, chore,
docs), and the one kind the factory gives a change itself: heal's revert of a merge that
broke production (docs/heal.md). A revert restores a tree production held: validation asks
no validator about it, earned trust holds it back by its own rule alone. Whether a change
is a revert is asked here, never by comparing its kind's word elsewhere."""

from __future__ import annotations

from typing import Final

REVERT: Final = "revert"


def is_revert(kind: str | None) -> bool:
    """Whether a change of ``kind`` is a revert."""
    return kind == REVERT


def regression_key(culprit: str) -> str:
    """What heal's regression issue for a revert of ``culprit`` is filed, and found, under."""
    return f"heal:regression:{culprit}"
