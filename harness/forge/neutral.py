"""One neutraliser for everything the factory writes to a forge (T7, B10).

Untrusted text — what a model wrote, an issue's title, gate evidence, a file name an agent
chose, what a page showed — is *encoded*, not filtered: it comes out as text that renders
exactly as it was written and can form nothing else. Nothing is searched for and removed,
so there is nothing to nest, split or cut to rebuild (``<!<!---- x -->`` stays text):

every character that could start a link, an image, raw HTML, an HTML comment (so a marker),
an entity, a code span, a table cell or a heading is backslash-escaped (emphasis can only
change how text looks); mentions, references (so closing keywords) and autolinks are broken
with a word joiner (U+2060); control characters and bidirectional overrides are dropped.
``code`` / ``fenced`` use a fence no content can close; a code span breaks links inside too,
a fenced block keeps its text exactly as written (a forge links nothing inside one, and test
output copied from it must match what ran); ``cell`` keeps the code spans of a table cell;
``plain`` is for titles, ``subject`` for a commit's subject. Each pass is one linear scan.
"""

from __future__ import annotations

import re

from harness.redact import redact

JOINER = "\u2060"
_ESCAPED = frozenset("`[]<>!|&#\\")
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
# control characters (but tab and newline), DEL, the C1 controls and the overrides: dropped
_DROPPED = dict.fromkeys(
    [*(c for c in range(0x20) if chr(c) not in "\n\t"), *range(0x7F, 0xA0), *map(ord, _BIDI)]
)
# what _break_links acts on: the escaped characters and those that can start a link
_TRIGGERS = re.compile("[" + re.escape("".join(sorted(_ESCAPED | set(".@:-")))) + "]")

# a word joiner where _break_links puts one: after a reference's #, a mention's @, an
# autolink's scheme, www, GitHub's gh-
_BROKEN = re.compile(
    "(?<=#)\u2060(?=[^\\W_])|(?<=@)\u2060(?=[\\w-])|(?<=:)\u2060(?=//)"
    "|(?<=[wW]{3})\u2060(?=\\.)|(?<=[gG][hH]-)\u2060(?=\\d)"
)


class Markdown(str):
    """Markdown the factory built itself (a code span, a table): templates keep it as is."""


def clip(text: object, limit: int = 4000) -> str:
    """``text`` as a string without control characters or bidirectional overrides, with every
    secret (the process's own, and anything shaped like a credential) redacted, cut at
    ``limit`` characters (before any encoding, so no escape is ever cut in half)."""
    raw = redact("" if text is None else str(text))
    out = raw.translate(_DROPPED).replace("\t", "    ")
    if len(out) > limit:
        out = out[: max(limit - 10, 0)].rstrip() + " … (cut)"
    return out


def _one_line(text: object, limit: int) -> str:
    """``clip``'s text on one line: each run of white space (a line break too) one space."""
    return " ".join(clip(text, limit).split())


def _break_links(text: str, escape: bool) -> str:
    """One scan: escape Markdown's characters (when ``escape``) and put a word joiner where
    GitHub would make a mention, a reference or an autolink. Only the characters that can
    do either are looked at, each replaced by what it becomes; the text between them is
    copied as it is."""

    def becomes(found: re.Match[str]) -> str:
        i = found.start()
        ch = found[0]
        nxt = text[i + 1 : i + 2]
        if ch == "#":
            return ("\\#" if escape else "#") + (JOINER if nxt.isalnum() else "")
        if escape and ch in _ESCAPED:
            return "\\" + ch
        www = ch == "." and i >= 3 and text[i - 3 : i].lower() == "www"
        mention = ch == "@" and (nxt.isalnum() or nxt in "-_")
        autolink = ch == ":" and text.startswith("//", i + 1)
        reference = ch == "-" and nxt.isdigit() and text[max(i - 2, 0) : i].lower() == "gh"
        return (JOINER if www else "") + ch + (JOINER if mention or autolink or reference else "")

    return _TRIGGERS.sub(becomes, text)


def inert(text: object, limit: int = 4000) -> Markdown:
    """Markdown that renders as ``text``, line breaks kept, and nothing else."""
    if isinstance(text, Markdown):
        return text
    body = _break_links(clip(text, limit), escape=True)
    # a line break in Markdown needs two spaces or a blank line; keep the lines readable
    return Markdown("  \n".join(body.split("\n")))


def unbroken(text: str) -> str:
    """``text`` without the word joiners this module puts in to break links: the factory's
    own escaping, which hides nothing (any other stays, to be found)."""
    return _BROKEN.sub("", text)


def inline(text: object, limit: int = 500) -> Markdown:
    """Like ``inert`` on one line (table cells, list items)."""
    if isinstance(text, Markdown):
        return text
    return Markdown(_break_links(_one_line(text, limit), escape=True))


def cell(text: object, limit: int = 500) -> Markdown:
    """Like ``inline``, for a table cell, but each code span ``text`` holds (between single
    backticks: a gate's command) stays one, made by ``code``, its pipes escaped as a cell
    needs: a command shows as code, not as escaped backticks."""
    parts = _one_line(text, limit).split("`")
    if len(parts) % 2 == 0:  # a backtick left open: no span at all
        return inline(text, limit)
    spans = [
        code(part).replace("|", "\\|") if n % 2 else _break_links(part, escape=True)
        for n, part in enumerate(parts)
    ]
    return Markdown("".join(spans))


def code(text: object, limit: int = 500) -> Markdown:
    """A code span showing ``text`` (one line) that nothing inside can close."""
    body = _break_links(_one_line(text, limit), escape=False) or " "
    run = longest_backticks(body)
    fence = "`" * (run + 1)
    pad = " " if body.startswith("`") or body.endswith("`") or run else ""
    return Markdown(f"{fence}{pad}{body}{pad}{fence}")


def fenced(text: object, limit: int = 4000) -> Markdown:
    """A fenced code block showing ``text`` as written (clipped, redacted), that nothing
    inside can close."""
    body = clip(text, limit)
    fence = "`" * max(3, longest_backticks(body) + 1)
    return Markdown(f"{fence}text\n{body}\n{fence}")


def plain(text: object, limit: int = 200) -> Markdown:
    """One line of plain text (a pull request title, a commit message's subject): nothing
    GitHub links — mentions, references, closing keywords, URLs."""
    return Markdown(_break_links(_one_line(text, limit), escape=False))


def subject(text: object, limit: int = 72) -> str:
    """A commit message's subject: ``plain``, with a space where it puts a word joiner
    (``git log`` shows every character, and an invisible one no reader can see)."""
    return plain(text, limit).replace(JOINER, " ")


def longest_backticks(text: str) -> int:
    """How many backticks the longest run of them in ``text`` holds (what a fence must
    outnumber)."""
    return max(map(len, re.findall("`+", text)), default=0)
