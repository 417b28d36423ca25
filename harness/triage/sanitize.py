"""Turning untrusted issue text into plain data, and noticing what was hidden in it (T1, B2–B5)."""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

_COMMENT = re.compile(r"<!--.*?(-->|\Z)", re.DOTALL)
_DETAILS = re.compile(r"<details\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
_ATTR_TEXT = re.compile(
    r"""\b(alt|title|aria-label|aria-description|data-[\w-]+)\s*=\s*("([^"]*)"|'([^']*)')""",
    re.IGNORECASE,
)
_HIDDEN_STYLE = re.compile(
    r"""style\s*=\s*["'][^"']*(display\s*:\s*none|visibility\s*:\s*hidden)""", re.I
)
_MD_IMAGE_ALT = re.compile(r"!\[([^\]]{20,})\]")
_MD_LINK_TITLE = re.compile(r"\]\([^)\s]+\s+\"([^\"]{20,})\"\)")

_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
_ZERO_WIDTH = {
    chr(c)
    for c in (
        0x200B,
        0x200C,
        0x200D,
        0x2060,
        0x2061,
        0x2062,
        0x2063,
        0x2064,
        0xFEFF,
        0x00AD,
        0x180E,
    )
}


@dataclass(frozen=True)
class Sanitized:
    """Issue text as data: what a model may read, and what was hidden in the original."""

    text: str
    hidden: tuple[str, ...]


def _invisible(ch: str) -> str | None:
    if ch in _BIDI:
        return "bidirectional override characters"
    if ch in _ZERO_WIDTH:
        return "zero-width or soft-hyphen characters"
    if 0xE0000 <= ord(ch) <= 0xE007F:
        return "Unicode tag characters"
    if unicodedata.category(ch) == "Cf":
        return "invisible format characters"
    return None


def sanitize(raw: str) -> Sanitized:
    """Decode entities (twice-encoded too), strip comments, tags and invisible characters."""
    hidden: list[str] = []
    text = raw
    for _ in range(3):  # entity-encoded and double-encoded text (B4)
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    for match in _COMMENT.finditer(text):
        if match.group(0).strip("<!->\n\t ").strip():
            hidden.append("text inside an HTML comment")
            break
    text = _COMMENT.sub("", text)
    if _DETAILS.search(text):
        hidden.append("a collapsed <details> section")
    if _HIDDEN_STYLE.search(text):
        hidden.append("an element styled invisible")
    for match in _ATTR_TEXT.finditer(text):
        value = match.group(3) or match.group(4) or ""
        if len(value.split()) >= 4:
            hidden.append(f"text in a {match.group(1)} attribute")
            break
    alt = _MD_IMAGE_ALT.search(text)
    if alt and len(alt.group(1).split()) >= 4:
        hidden.append("text in image alt text")
    if _MD_LINK_TITLE.search(text):
        hidden.append("text in a link title")
    text = _TAG.sub("", text)
    kept: list[str] = []
    for ch in text:
        kind = _invisible(ch)
        if kind is None:
            kept.append(ch)
        elif kind not in hidden:
            hidden.append(kind)
    text = unicodedata.normalize("NFC", "".join(kept))
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return Sanitized(text=text, hidden=tuple(dict.fromkeys(hidden)))
