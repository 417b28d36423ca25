"""What the browser tests share: the marks that skip them where Chromium or bubblewrap is
missing, and an app in the sandbox with a confined Chromium in its network namespace."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.browser.chromium import BrowserSession, find_chromium
from harness.sandbox.app import AppProcess, free_port
from harness.sandbox.bwrap import Sandbox, sandbox_available

try:
    find_chromium()
    HAVE_CHROMIUM = True
except Exception:
    HAVE_CHROMIUM = False

NEEDS_BROWSER = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (HAVE_CHROMIUM and sandbox_available()), reason="needs Chromium and bwrap"
    ),
]


@contextmanager
def served(folder: Path, command: str) -> Iterator[tuple[AppProcess, BrowserSession]]:
    """``command`` (``{port}``: its port) run in ``folder`` in the sandbox until it answers,
    and a Chromium that reaches it, and nothing else, from inside its network namespace."""
    port = free_port()
    with AppProcess(Sandbox(folder), command.format(port=port), port) as app:
        app.wait_ready(20)
        assert app.netns_pid is not None
        with BrowserSession(netns_pid=app.netns_pid) as session:
            yield app, session
