"""Removing secrets from anything the harness writes (transcripts, logs, comments)."""

from __future__ import annotations

import os

SECRET_VARIABLES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "GITHUB_TOKEN", "GH_TOKEN")


def secret_values() -> list[str]:
    """The secret values present in this process's environment (at least 8 characters)."""
    return [v for name in SECRET_VARIABLES if len(v := os.environ.get(name, "")) >= 8]


def redact(text: str) -> str:
    """``text`` with every secret value (and its 20-character slices) replaced."""
    for value in secret_values():
        text = text.replace(value, "[redacted]")
        for start in range(0, len(value) - 19, 10):
            text = text.replace(value[start : start + 20], "[redacted]")
    return text
