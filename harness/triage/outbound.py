"""What the bot posts, before a template places it: control characters and direction
overrides dropped, the length capped. The Markdown encoding itself happens once, where the
text is placed into a comment or pull request body (``harness/forge/neutral.py``, applied to
every value of a ``comments/`` template)."""

from __future__ import annotations

from harness.forge.neutral import clip


def sanitize_outbound(text: str, limit: int = 4000) -> str:
    """``text`` clipped for a forge; the template that places it neutralises it."""
    return clip(text, limit)
