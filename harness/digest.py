"""The one way the harness names a text by its content: the SHA-256 of its UTF-8 bytes, in
hex (a caller that wants a shorter name takes its first characters)."""

from __future__ import annotations

import hashlib


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
