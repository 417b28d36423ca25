"""Making what the bot posts harmless (T7, B10): no mass mentions, closing keywords or images."""

from __future__ import annotations

import re

_MENTION = re.compile(r"(?<![\w`])@([A-Za-z0-9][A-Za-z0-9-]{0,38}(?:/[A-Za-z0-9_.-]+)?)")
_CLOSING = re.compile(
    r"\b(close[sd]?|fix(?:e[sd])?|resolve[sd]?)(\s*:?\s+)((?:[\w.-]+/[\w.-]+)?#\d+)", re.IGNORECASE
)
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_HTML_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_LINK = re.compile(r"\[([^\]]*)\]\((?:https?:)?//[^)]*\)")
_URL = re.compile(r"\bhttps?://\S+")
_COMMENT_OPEN = re.compile(r"<!--|-->")


def sanitize_outbound(text: str, limit: int = 4000) -> str:
    """Neutralise mentions, closing keywords, images, links and markers in model-written text."""
    text = _COMMENT_OPEN.sub("", text)
    text = _IMAGE.sub("[image removed]", text)
    text = _HTML_IMG.sub("[image removed]", text)
    text = _LINK.sub(lambda m: m.group(1), text)
    text = _URL.sub("[link removed]", text)
    text = _MENTION.sub(lambda m: f"`@{m.group(1)}`", text)
    text = _CLOSING.sub(lambda m: f"{m.group(1)}{m.group(2)}`{m.group(3)}`", text)
    if len(text) > limit:
        text = text[: limit - 20].rstrip() + " … (cut)"
    return text
