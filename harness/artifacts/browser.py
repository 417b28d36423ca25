"""What the browser reports: a hold-out journey's result, and each call of the validator's
browser tools with a digest of what it showed. Plain records, light to import: the browser
writes them, the validation's and the validator's records hold them."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

__all__ = (
    "LEARNED",
    "ON_AN_APP",
    "JourneyResult",
    "Observation",
    "as_quoted",
    "as_read",
)

_QUOTE_MARKS = str.maketrans("", "", "\"'\u201c\u201d\u2018\u2019")

# what may change the app (``Observation.changes``): these, a field submitted, a request
# other than these
_CHANGES = ("browser_click", "browser_press_key")
_READS = ("GET", "HEAD", "OPTIONS")
LEARNED = "learned:"  # a learned check's result is named by its id after this
# a check heal names (``heal.checks``) that runs on an app: a hidden journey, a learned check
ON_AN_APP = ("journey:", LEARNED)


def as_read(text: str) -> str:
    """``text`` as a person reads it: Unicode NFKC (fullwidth letters, ligatures and the like
    as the letters they show), every run of white space, line breaks included, one space. A
    journey's expected text and a verdict's quote are matched on it."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def as_quoted(text: str) -> str:
    """``text`` as a quote is matched: as read (``as_read``), in either case, quotation marks
    left out (a JSON answer's ``"title": "x"`` is quoted ``title: x``)."""
    return as_read(text).casefold().translate(_QUOTE_MARKS)


@dataclass(frozen=True)
class JourneyResult:
    """One hold-out journey on one app: the first failing step kept with what was expected,
    what the page showed and a screenshot; a pass keeps the final page text."""

    name: str
    passed: bool
    steps_run: int
    failed_step: int | None = None
    expected: str | None = None
    actual: str | None = None
    screenshot: str | None = None
    duration_s: float = 0.0
    blocked_requests: list[str] = field(default_factory=list)
    final_path: str | None = None
    final_text: str | None = None  # what the page showed at the end, capped
    failed_as: str | None = None  # the failing step as the journey file writes it

    @property
    def learned(self) -> str | None:
        """A learned check's id (what its result's name holds after ``LEARNED``); None for a
        journey."""
        return self.name.removeprefix(LEARNED) if self.name.startswith(LEARNED) else None

    @property
    def failed_at(self) -> str:
        """The failing step by its number and as the maintainer wrote it: for the maintainer's
        own views and the run's record alone, never a public comment or an agent (the
        hold-out stays sealed)."""
        return f"step {self.failed_step}" + (f" ({self.failed_as})" if self.failed_as else "")


@dataclass(frozen=True)
class Observation:
    """One tool call of the validator, recorded by the harness's tools (never the model's
    word): its ``number`` as the validator was told it, its tool, its input, a digest of what
    it was shown, whether the call failed, the HTTP status it saw (a page's, a request's),
    ``excerpt``: the text it returned, as the validator was shown it (every tool's answer is
    bounded below ``MAX_EXCERPT`` characters, so this is all of it: a verdict's quote is
    looked for here), text that addresses the validator found in what it observed (the
    page's whole document, a response's body): tampering, and where it was made: ``at`` the
    path of the page it left the browser on (of the address asked, for a request), with that
    page's ``title``. Secrets the validator typed or sent are masked in every field but the
    digest."""

    tool: str
    input: dict[str, Any]
    seen: str
    error: bool = False
    number: int = 0
    status: int | None = None
    excerpt: str = ""
    addressed: str = ""
    at: str = ""
    title: str = ""

    @property
    def failed(self) -> bool:
        """It errored, or the app answered it with an HTTP error."""
        return self.error or (self.status or 0) >= 400

    @property
    def answer(self) -> str:
        """How the call went, as a person reads it: ``error``, ``HTTP 200``, ``ok``."""
        return "error" if self.error else f"HTTP {self.status}" if self.status else "ok"

    @property
    def changes(self) -> bool:
        """Whether the action may have changed the app: a click, a key, a field submitted, a
        request other than a read."""
        method = str(self.input.get("method", "GET")).upper()
        return not self.error and (
            self.tool in _CHANGES
            or (self.tool == "browser_type" and bool(self.input.get("submit")))
            or (self.tool == "browser_request" and method not in _READS)
        )

    def shows(self, quote: str) -> bool:
        """Whether it worked and its excerpt holds ``quote`` (and it has one), both read as a
        quote is matched (``as_quoted``)."""
        quoted = as_quoted(quote)
        return not self.error and bool(quoted) and quoted in as_quoted(self.excerpt)

    @property
    def gist(self) -> str:
        """Its excerpt on one line, at most 200 characters."""
        return " ".join(self.excerpt.split())[:200]
