"""Untrusted issue text as data: what was hidden in it is found, the rest is kept as written
(T1, B2–B5; what counts as hidden, and the credential redaction: docs/how-it-works.md, "How
triage decides").

Every scan here is linear in the text (a test feeds a megabyte of each worst case): no
pattern can re-scan what a failed attempt already read, because each negated class stops at
the character that could start the next attempt, and fixed strings are found with
``str.find``. Callers cap the size before calling (the pre-screen does)."""

from __future__ import annotations

import bisect
import html
import itertools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import regex

from harness.forge.neutral import unbroken
from harness.redact import redact_credentials

COMMENT_OPEN, COMMENT_CLOSE = "<!--", "-->"

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.MULTILINE)
_TICKS = re.compile(r"`+")
_LINE_PI = re.compile(r"^ {0,3}<\?", re.MULTILINE)
_DECLARATION = re.compile(r"<![A-Za-z]")
_HIDDEN_STYLE = re.compile(
    r"""style\s*=\s*["'][^"'<>]*?(display\s*:\s*none|visibility\s*:\s*hidden)""", re.IGNORECASE
)
# an attribute a reader does not see, quoted either way or unquoted; a name starts a run of
# name characters (so ``data-data-…`` is one attempt, not one per ``data-``)
_ATTR_TEXT = re.compile(
    r"""(?<![\w-])(alt|title|placeholder|aria-label|aria-description|data-[\w-]++)\s*+=\s*+"""
    r"""(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]++))""",
    re.IGNORECASE,
)
_TAG_OPEN = re.compile(r"<[A-Za-z]")
# an attribute that hides its element: ``hidden`` (whatever its value), ``aria-hidden="true"``
_HIDDEN_ATTRIBUTE = re.compile(
    r"""(?<=\s)(?:hidden(?=[\s/>=]|$)|aria-hidden\s*+=\s*+["']?\s*+true(?![\w-]))""",
    re.IGNORECASE,
)
_DETAILS = re.compile(r"<details(?=[\s>/])", re.IGNORECASE)
_DETAILS_END, _SUMMARY_END = re.compile("</details", re.I), re.compile("</summary[^>]*>", re.I)
_OPEN = re.compile(r"(?<![\w-])open(?![\w-])", re.IGNORECASE)
_TAG = re.compile(r"<[^<>]*>")
# what GitHub's uploader writes as alt text: "image", or the file's name
_UPLOADER_ALT = re.compile(
    r"image|[\w.-]+\.(?:png|jpe?g|gif|webp|svg|bmp|avif|mp4|mov|webm)", re.IGNORECASE
)
_MD_IMAGE_ALT = re.compile(r"!\[([^\[\]\n]*)\]")
# a numeric character reference; those to control characters are dropped by html.unescape,
# but a browser keeps them (invisible), so the checks must see them
_NUMERIC_REF = re.compile(
    r"&#([xX]0*+(?:[1-8bBeEfF]|1[0-9a-fA-F]|7[fF])(?![0-9a-fA-F])"
    r"|0*+(?:[1-8]|11|1[4-9]|2[0-9]|3[01]|127)(?![0-9]));?"
)
_DROPPED_CONTROLS = frozenset([*range(0x01, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F])
_MD_LINK_TITLE = re.compile(r"""\]\([^()\s]*\s+("[^"\n]*"|'[^'\n]*'|\([^()\n]*\))\s*\)""")
# a link reference definition as CommonMark reads it (label, destination, optional quoted or
# parenthesised title, nothing else on the line): "[WIP]: fixing the sort" is not one
_REFERENCE = re.compile(
    r"""^ {0,3}\[([^\[\]\n]+)\]:[ \t]*(<[^<>\n]*>|[^\s<]\S*)"""
    r"""(?:[ \t]+("[^"\n]*"|'[^'\n]*'|\([^()\n]*\)))?[ \t]*$""",
    re.MULTILINE,
)

# Every character the character checks look at, by Unicode's own properties rather than a
# list: controls (but tab, newline, carriage return), format characters (category Cf) and
# every default-ignorable code point (what Unicode says renderers show as nothing: variation
# selectors, the combining grapheme joiner, Hangul fillers, tag characters …).
_SUSPECT = regex.compile(r"[[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]--[\t\n\r]]", regex.V1)
_SELECTOR = regex.compile(r"\p{Variation_Selector}")
_MONGOLIAN = regex.compile(r"\p{Script=Mongolian}")  # what its free variation selectors follow
# format characters that are drawn (Unicode's prepended concatenation marks): text, not hidden
_DRAWN = regex.compile(r"\p{Prepended_Concatenation_Mark}")
# right-to-left text, but not the format characters in its blocks: an Arabic letter mark
# (U+061C) alone would otherwise make its own line "right-to-left" and let marks through
_RTL = re.compile(
    "[\u0590-\u05ff\u0606-\u061b\u061d-\u06dc\u06de-\u070e\u0710-\u088f\u0892-\u08e1"
    "\u08e3-\u08ff\ufb1d-\ufdff\ufe70-\ufefe\U00010800-\U00010fff\U0001e800-\U0001efff]"
)
_OVERRIDES = frozenset(("\u202d", "\u202e"))
MAX_EXAMINED = 10_000  # invisible characters looked at one by one
_BIDI_IN_RTL = frozenset(
    ("\u200e", "\u200f", "\u061c", "\u202a", "\u202b", "\u202c", *map(chr, range(0x2066, 0x206A)))
)
_ZERO_WIDTH = frozenset(map(chr, (0x200B, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0x00AD, 0x180E)))
_ZWNJ, _ZWJ, _BOM, _VS16 = "\u200c", "\u200d", "\ufeff", "\ufe0f"
_BLACK_FLAG, _CANCEL_TAG = "\U0001f3f4", "\U000e007f"


@dataclass(frozen=True)
class Sanitized:
    """Issue text as data: what a model may read, and what was hidden in the original."""

    text: str
    hidden: tuple[str, ...]


def normal_comment(text: str) -> str:
    """A comment's text as compared with the templates' (whitespace folded)."""
    return " ".join(text.split())


def comments_in(text: str) -> list[str]:
    """The text of every HTML comment in ``text`` (outside code), normalised."""
    return [normal_comment(body) for _, _, body in _comments(_mask_code(text))]


def sanitize(raw: str, template_comments: Iterable[str], own: bool = False) -> Sanitized:
    """Find what ``raw`` hides; return it as written minus HTML comments, the invisible
    characters that were flagged and a leading byte order mark, with credentials redacted.
    ``template_comments`` (normalised) are removed silently. ``own``: the factory's signed
    text, its blocks left out: the word joiners of its escaping hide nothing. Code (a quoted
    test output, a page, a line of production) is shown as a quote, its markup inert."""
    templates = frozenset(template_comments)
    hidden: list[str] = []
    raw = unbroken(raw) if own else raw
    masked = _mask_code(raw)
    removals: list[tuple[int, int]] = []
    for start, end, body in _comments(masked):
        removals.append((start, end))
        text = normal_comment(body)
        if text and text not in templates:
            hidden.append("text inside an HTML comment")
    hidden += _structural(masked)
    if _collapsed(raw, masked):
        hidden.append("text inside a collapsed <details>")
    decoded = _decoded(masked)
    if decoded != masked:  # entity-encoded (and double-encoded) markup (B4)
        if any(normal_comment(b) for _, _, b in _comments(decoded)):
            hidden.append("text inside an HTML comment")
        hidden += _structural(decoded)
    kinds, drop, drop_all = _characters(raw)
    hidden += kinds
    if decoded != masked:  # what entities outside code stand for (code shows them as written)
        hidden += _characters(decoded)[0]
    text = _without(raw, removals, drop, drop_all).removeprefix(_BOM)  # the BOM: no text
    text = redact_credentials(re.sub(r"\n{3,}", "\n\n", text).strip())
    return Sanitized(text=text, hidden=tuple(dict.fromkeys(hidden)))


def _collapsed(raw: str, masked: str) -> bool:
    """Whether a ``<details>`` that is not ``open`` (found outside code, in ``masked``) holds
    anything beyond its summary, code included. Each one is read up to its ``</details``
    and the next looked for after it, so the scan is linear."""
    at = 0
    for found in _DETAILS.finditer(masked):
        tag = masked.find(">", found.end()) if found.start() >= at else -2
        if tag == -1:
            break
        if tag < 0 or _OPEN.search(masked, found.end(), tag):  # inside one, or shown open
            at = max(at, tag)
            continue
        close = _DETAILS_END.search(masked, tag)
        at = close.start() if close else len(masked)
        body = raw[tag + 1 : at]  # the summary only when it comes first, as GitHub shows it
        summary = _SUMMARY_END.search(body) if body.lstrip()[:8].lower() == "<summary" else None
        if _TAG.sub("", body[summary.end() if summary else 0 :]).strip():
            return True
    return False


def _control_reference(match: re.Match[str]) -> str:
    digits = match.group(1)
    code = int(digits[1:], 16) if digits[0] in "xX" else int(digits)
    return chr(code) if code in _DROPPED_CONTROLS else match.group(0)


def _decoded(text: str) -> str:
    for _ in range(3):  # double-encoded markup too; decoded text stays as it is
        text = html.unescape(_NUMERIC_REF.sub(_control_reference, text))
    return text


def _mask_code(text: str) -> str:
    """``text`` with fenced code blocks and code spans blanked (same length, newlines kept):
    what GitHub shows literally is not a hidden channel."""
    spans: list[tuple[int, int]] = []
    fence: tuple[str, int] | None = None
    fence_start = 0
    for match in _FENCE.finditer(text):
        run = match.group(1)
        if fence is None:
            fence, fence_start = (run[0], len(run)), match.start()
        elif run[0] == fence[0] and len(run) >= fence[1]:
            end = len(text) if (nl := text.find("\n", match.end())) < 0 else nl
            if not text[match.end() : end].strip():  # nothing after the closing fence
                spans.append((fence_start, end))
                fence = None
    if fence is not None:
        spans.append((fence_start, len(text)))
    outside = _blank(text, spans)
    found = itertools.islice(_TICKS.finditer(outside), MAX_EXAMINED)  # past it: not masked
    runs = [(m.start(), m.end() - m.start()) for m in found]
    following: list[int] = [-1] * len(runs)  # the next run of the same length, by index
    last: dict[int, int] = {}
    for index, (_, length) in reversed(list(enumerate(runs))):
        following[index], last[length] = last.get(length, -1), index
    code: list[tuple[int, int]] = []
    covered = 0
    for index, (start, length) in enumerate(runs):
        if start < covered or following[index] < 0:
            continue
        covered = runs[following[index]][0] + length
        code.append((start, covered))
    return _blank(outside, code)


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    parts: list[str] = []
    at = 0
    for start, end in sorted(spans):
        start = max(start, at)
        parts.append(text[at:start])
        part = text[start:end]
        parts.append(re.sub(r"[^\n]", " ", part) if "\n" in part else " " * len(part))
        at = max(at, end)
    parts.append(text[at:])
    return "".join(parts)


def _comments(text: str) -> list[tuple[int, int, str]]:
    """(start, end, inner text) of every ``<!-- … -->``; an unclosed one runs to the end."""
    found: list[tuple[int, int, str]] = []
    at = text.find(COMMENT_OPEN)
    while at >= 0:
        empty = next((e for e in ("<!-->", "<!--->") if text.startswith(e, at)), None)
        if empty:  # CommonMark's empty comments
            found.append((at, at + len(empty), ""))
            at = text.find(COMMENT_OPEN, at + len(empty))
            continue
        close = text.find(COMMENT_CLOSE, at + len(COMMENT_OPEN))
        end = len(text) if close < 0 else close + len(COMMENT_CLOSE)
        inner = text[at + len(COMMENT_OPEN) : end if close < 0 else close]
        found.append((at, end, inner))
        at = text.find(COMMENT_OPEN, end)
    return found


def _structural(text: str) -> list[str]:
    """Markup a renderer hides (``text`` has its code already blanked)."""
    hidden: list[str] = []
    pi = text.find("<?")
    if (pi >= 0 and text.find("?>", pi + 2) >= 0) or _LINE_PI.search(text):
        hidden.append("a processing instruction (<?…?>)")
    if "<![CDATA[" in text:
        hidden.append("a CDATA section")
    if _DECLARATION.search(text):
        hidden.append("a markup declaration (<!X …>)")
    if _HIDDEN_STYLE.search(text):
        hidden.append("an element styled invisible")
    opens = [m.start() for m in _TAG_OPEN.finditer(text)]
    closes = [m.start() for m in re.finditer(">", text)] if opens else []
    for match in _ATTR_TEXT.finditer(text) if opens else ():
        name, value = match.group(1).lower(), match.group(2) or match.group(3) or match.group(4)
        if _in_tag(opens, closes, match.start()) and not _shown(name, value or ""):
            hidden.append(f"text in a {name} attribute")
            break
    for match in _HIDDEN_ATTRIBUTE.finditer(text) if opens else ():
        if _in_tag(opens, closes, match.start()):
            hidden.append("an element marked hidden (hidden, aria-hidden)")
            break
    if any(not _shown("alt", m.group(1)) for m in _MD_IMAGE_ALT.finditer(text)):
        hidden.append("text in image alt text")
    if _MD_LINK_TITLE.search(text):
        hidden.append("text in a link title")
    for match in _REFERENCE.finditer(text):
        target, title = match.group(2), match.group(3)
        if title or target in ("#", "<>"):
            hidden.append("a Markdown comment or link definition ([//]: # (…))")
            break
    return hidden


def _in_tag(opens: list[int], closes: list[int], at: int) -> bool:
    """Whether ``at`` lies inside an opening tag (after its ``<x`` and before any ``>``)."""
    last_open = bisect.bisect_left(opens, at) - 1
    if last_open < 0:
        return False
    last_close = bisect.bisect_left(closes, at) - 1
    return last_close < 0 or closes[last_close] < opens[last_open]


def _shown(name: str, value: str) -> bool:
    """Whether an attribute's (or image's alt) text hides nothing: empty, or the alt text
    GitHub's uploader writes. Any other word is one a reader does not see."""
    value = value.strip()
    return not value or (name == "alt" and _UPLOADER_ALT.fullmatch(value) is not None)


def _emoji(ch: str) -> bool:
    code = ord(ch)
    return 0x1F000 <= code <= 0x1FAFF or unicodedata.category(ch) == "So"


def _script_letter(ch: str) -> bool:
    """A letter or mark of a script that joins with ZWJ/ZWNJ (not ASCII or Latin-1)."""
    return ord(ch) > 0x36F and unicodedata.category(ch)[0] in "LM"


def _in_flag(text: str, i: int) -> bool:
    """Whether the tag character at ``i`` belongs to an emoji flag: the black flag, tag
    letters, the cancel tag (England, Scotland, Wales …; at most a few dozen characters)."""

    def letter(at: int) -> bool:
        return 0 <= at < len(text) and "\U000e0020" <= text[at] <= "\U000e007e"

    start = i
    while letter(start - 1) and start > i - 40:
        start -= 1
    end = i if text[i] == _CANCEL_TAG else i + 1
    while letter(end) and end < i + 40:
        end += 1
    return 0 < start < end < len(text) and text[start - 1] + text[end] == _BLACK_FLAG + _CANCEL_TAG


def _characters(text: str) -> tuple[list[str], set[int], bool]:
    """The kinds of invisible characters that hide something, their positions, and whether
    there were so many that every suspect character is to go."""
    kinds: list[str] = []
    drop: set[int] = set()
    found = itertools.islice(_SUSPECT.finditer(text), MAX_EXAMINED + 1)
    candidates = [m.start() for m in found]
    if not candidates:
        return kinds, drop, False
    drop_all = len(candidates) > MAX_EXAMINED
    if drop_all:  # no honest issue has this many: hold it, and drop every one of them
        kinds.append("an unusual number of invisible or control characters")
        candidates = candidates[:MAX_EXAMINED]
    newlines = [m.start() for m in re.finditer("\n", text)]
    rtl: dict[int, bool] = {}  # line number -> it has right-to-left letters (each line once)
    for i in candidates:
        line = bisect.bisect_left(newlines, i)
        if line not in rtl:
            start = newlines[line - 1] + 1 if line else 0
            end = newlines[line] if line < len(newlines) else len(text)
            rtl[line] = _RTL.search(text, start, end) is not None
        kind = _kind(text, i, text[i], rtl[line])
        if kind is not None:
            drop.add(i)
            if kind not in kinds:
                kinds.append(kind)
    return kinds, drop, drop_all


def _selector(ch: str) -> bool:
    return _SELECTOR.match(ch) is not None


def _kind(text: str, i: int, ch: str, rtl_line: bool) -> str | None:
    before = text[i - 1] if i else ""
    after = text[i + 1] if i + 1 < len(text) else ""
    if ch == "\x1b":
        return "terminal escape codes (ANSI)"
    if unicodedata.category(ch) == "Cc":
        return "control characters"
    if ch in _OVERRIDES:
        return "bidirectional override characters"
    if ch in _BIDI_IN_RTL:
        return None if rtl_line else "bidirectional control characters outside right-to-left text"
    if ch in (_ZWJ, _ZWNJ) and before and after:  # a joiner between letters, or emoji (ZWJ)
        if _script_letter(before) and _script_letter(after):
            return None
        if ch == _ZWJ and (_emoji(before) or before == _VS16) and _emoji(after):
            return None
    if ch == _BOM and i == 0:
        return None
    if ch in _ZERO_WIDTH or ch in (_ZWJ, _ZWNJ, _BOM):
        return "zero-width or soft-hyphen characters"
    if _selector(ch):  # one selector after a visible character chooses its look; more carry data
        lone = bool(before) and not before.isspace() and not _selector(before)
        lone = lone and unicodedata.category(before)[0] not in "CZ"
        if "\u180b" <= ch <= "\u180f":  # Mongolian's own selectors choose only its letters' forms
            lone = lone and _MONGOLIAN.match(before) is not None
        return None if lone else "variation selectors carrying hidden data"
    if 0xE0000 <= ord(ch) <= 0xE007F:
        return None if _in_flag(text, i) else "Unicode tag characters"
    if _DRAWN.match(ch):
        return None
    return "invisible format characters"  # any other format or default-ignorable character


def _without(text: str, removals: list[tuple[int, int]], drop: set[int], drop_all: bool) -> str:
    """``text`` without the comment spans and the dropped characters."""
    parts: list[str] = []
    order = sorted(drop)
    at = 0
    for start, end in [*sorted(removals), (len(text), len(text))]:
        part = text[at:start] if start > at else ""
        if drop_all:
            part = _SUSPECT.sub("", part)
        elif drop:
            lo, hi = bisect.bisect_left(order, at), bisect.bisect_left(order, start)
            cuts = [i - at for i in order[lo:hi]]
            ends = [*cuts, len(part)]
            part = "".join(part[a + 1 : b] for a, b in zip([-1, *cuts], ends, strict=True))
        parts.append(part)
        at = max(at, end)
    return "".join(parts)
