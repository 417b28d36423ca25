"""Removing secrets from anything the harness writes (transcripts, logs, comments)."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Collection
from typing import Any

MASK = "[masked]"  # what a secret a validator typed or sent is written as (``masked``)
SECRET_VARIABLES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "GITHUB_TOKEN", "GH_TOKEN")

# Credentials recognised by their shape, wherever they come from (an issue body, a pasted log):
# the prefix is fixed and every repeat is bounded (or possessive after a left boundary), so a
# scan is linear in the text. No left boundary for the prefixed ones: a token right after a
# JSON escape (``\\tsk-ant-…``) or an ANSI colour code (``\x1b[31mghp_…``) is still one.
CREDENTIALS = (
    ("GitHub token", re.compile(r"gh[pousr]_[A-Za-z0-9]{36}(?![A-Za-z0-9])")),
    ("GitHub token", re.compile(r"github_pat_[A-Za-z0-9_]{22,255}+(?![A-Za-z0-9_])")),
    ("Anthropic key", re.compile(r"sk-ant-[A-Za-z0-9_-]{20,300}")),
    ("AWS key id", re.compile(r"(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Za-z])")),
    ("Slack token", re.compile(r"xox[abprs]-[0-9]{6,20}-[A-Za-z0-9-]{3,300}")),
    ("JWT", re.compile(r"(?<![\w-])eyJ[\w-]{4,}+\.eyJ[\w-]{4,}+\.[\w-]{4,}+", re.ASCII)),
)


def secret_values() -> list[str]:
    """The secret values present in this process's environment (at least 8 characters)."""
    return [v for name in SECRET_VARIABLES if len(v := os.environ.get(name, "")) >= 8]


# the fixed start of every shape above: text without one holds no credential (one scan, not six)
_STARTS = re.compile(r"gh[pousr]_|github_pat_|sk-ant-|AKIA|ASIA|xox[abprs]-|eyJ")


def redact_credentials(text: str) -> str:
    """``text`` with every credential-shaped string (GitHub, Anthropic, AWS, Slack, JWT)
    replaced by ``[redacted <kind>]``."""
    if _STARTS.search(text) is None:
        return text
    for kind, pattern in CREDENTIALS:
        text = pattern.sub(f"[redacted {kind}]", text)
    return text


def redact(text: str) -> str:
    """``text`` with every secret value (and every 20-character piece of one) and every
    credential-shaped string replaced."""
    values = tuple(secret_values())
    if values:
        text = _pieces(values).sub("[redacted]", text)
    return redact_credentials(text)


@functools.lru_cache(maxsize=8)
def _pieces(values: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for the values and each of their 20-character windows, longest first."""
    windows = {v[i : i + 20] for v in values for i in range(len(v) - 19)}
    found = sorted({*values, *windows}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, found)))


def masked(value: Any, secrets: Collection[str]) -> Any:
    """``value`` (a string, or lists and mappings of them) with each of ``secrets`` of at
    least 4 characters (the app's own, that a validator typed or sent) and every 20-character
    piece of one written ``[masked]``."""
    kept = tuple(sorted(s for s in secrets if len(s) >= 4))
    return _masked(value, _pieces(kept)) if kept else value


def _masked(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(MASK, value)
    if isinstance(value, dict):
        return {key: _masked(item, pattern) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item, pattern) for item in value]
    return value
