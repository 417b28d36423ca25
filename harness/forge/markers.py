"""Markers that cannot be forged: how the factory recognises its own comments and blocks.

A factory comment begins with ``<!-- factory:<key> <sig> -->``, ``sig`` an HMAC of the issue
number and the key under a secret only the harness holds. It counts as the factory's when
its author is one of the factory's logins *and* its first line is that exact marker; the
same words anywhere else are data (and no text the factory posts can hold a marker: the
neutraliser escapes ``<``). Hidden data blocks carry an HMAC of their issue number and
payload: copied onto another issue, a block does not verify. The secret:
``FACTORY_MARKER_KEY`` (docs/configuration.md), else ``<state>/marker.key``, 32 random bytes
made on first use, readable by its owner only.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from harness.digest import sha256

ENV = "FACTORY_MARKER_KEY"
# a marker or a data block on a line of its own: an HTML block GitHub does not show
_HIDDEN = re.compile(r"^<!-- factory[:-][^\n]* -->$\n?", re.MULTILINE)
_BLOCK = re.compile(r"<!-- factory-(?P<name>[\w-]+) (?P<payload>\S+) (?P<sig>\S+) -->")
KEY_FILE = "marker.key"
_SIG_CHARS = 32  # hex characters of the HMAC kept in a marker (128 bits)


class Markers:
    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("an empty marker key")
        self._secret = secret

    def _sign(self, *parts: str) -> str:
        message = "\x1f".join(parts).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:_SIG_CHARS]

    def tag(self, issue: int, key: str) -> str:
        """The first line of the factory's comment ``key`` on ``issue``."""
        return f"<!-- factory:{key} {self._sign('comment', str(issue), key)} -->"

    def owns(self, body: str, issue: int, key: str) -> bool:
        """Whether ``body`` starts with the factory's marker ``key`` for ``issue``."""
        first = body.split("\n", 1)[0].strip()
        return hmac.compare_digest(first.encode(), self.tag(issue, key).encode())

    def block(self, name: str, issue: int, payload: str) -> str:
        """A hidden data block about ``issue`` the factory can trust later (``payload``: base64)."""
        return f"<!-- factory-{name} {payload} {self._sign('block', name, str(issue), payload)} -->"

    def read_block(self, name: str, issue: int, text: str) -> str | None:
        """The payload of the first block ``name`` in ``text`` whose signature holds for
        ``issue`` (a block anyone else wrote, one altered, or one signed for another issue or
        as a block of another name is skipped: the signature covers all three)."""
        for found in _BLOCK.finditer(text):
            payload = found["payload"]
            expected = self._sign("block", name, str(issue), payload)
            if hmac.compare_digest(found["sig"].encode(), expected.encode()):
                return payload
        return None

    def sign_text(self, text: str) -> str:
        """``text`` followed by a block signing all of it: an issue body the factory files
        itself (its pre-screen tells it from text that came from outside, docs/heal.md)."""
        clean = _normal(text)
        return f"{clean}\n\n{self.block('text', 0, sha256(clean))}"

    def signed_text(self, body: str) -> str | None:
        """What ``sign_text`` signed in ``body``, without the factory's blocks (signed for no
        issue); None unless ``body`` is exactly such a text, unaltered."""
        clean, _, last = _normal(body).rpartition("\n\n")
        if not hmac.compare_digest(last.encode(), self.block("text", 0, sha256(clean)).encode()):
            return None
        lines = clean.split("\n")
        return "\n".join(line for line in lines if not self._signed_line(line))

    def _signed_line(self, line: str) -> bool:
        found = _BLOCK.fullmatch(line)
        return found is not None and self.read_block(found["name"], 0, line) is not None


def _normal(text: str) -> str:
    return text.replace("\r\n", "\n").strip()


def readable(body: str) -> str:
    """``body`` as a reader of GitHub sees it: without the factory's markers and data blocks
    (what the dashboard and ``factory issue show`` print; the JSON keeps them)."""
    return _HIDDEN.sub("", body).strip("\n")


def load_markers(state_dir: Path) -> Markers:
    """The factory's marker key: ``$FACTORY_MARKER_KEY``, else ``<state>/marker.key``."""
    value = os.environ.get(ENV, "").strip()
    if value:
        return Markers(value.encode())
    path = state_dir / KEY_FILE
    if not path.exists():  # made on first use, readable by its owner only
        state_dir.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{KEY_FILE}.{os.getpid()}.tmp")
        draft.touch(mode=0o600)
        draft.write_text(secrets.token_hex(32))
        try:
            os.link(draft, path)  # whole or not at all; a process that got there first wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return Markers(bytes.fromhex(path.read_text().strip()))
