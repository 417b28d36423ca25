"""A journey's text is found as a person sees it: in the case CSS shows it
(``text-transform``) and in the case it is written; ``exact`` looks only at what is shown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.browser.chromium import BrowserSession
from harness.browser.journeys import Journey
from harness.browser.runner import run_journey
from tests.browser.serving import NEEDS_BROWSER, served

pytestmark = NEEDS_BROWSER

APP = """
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

PAGE = (b"<!doctype html><title>t</title><style>.u { text-transform: uppercase }"
        b" .l { text-transform: lowercase }</style>"
        b"<p class=u>1 open</p><p class=l>TESS</p><p hidden>secret words</p>"
        b"<h1>shared <br/>expenses</h1><p>split <b>across</b><span> inline</span>\\n parts</p>")

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, BrowserSession]]:
    folder = tmp_path_factory.mktemp("text")
    (folder / "app.py").write_text(APP)
    with served(folder, "python3 app.py {port}") as (app, session):
        yield app.base_url, session


def _steps(running: tuple[str, BrowserSession], tmp_path: Path, *steps: object) -> int | None:
    """The step the journey failed at (None: it passed)."""
    url, session = running
    journey = Journey.model_validate({"name": "text", "steps": [{"goto": "/"}, *steps]})
    return run_journey(session, url, journey, tmp_path).failed_step


def test_text_is_found_in_the_case_written_and_the_case_shown(running, tmp_path: Path) -> None:
    # one journey, its expectations in turn (each reads the page, none changes it): every
    # one before the last passes, and the last fails
    waited = {"wait_for": {"text": "1 open", "timeout_ms": 2000}}
    found = [{"expect_text": "1 open"}, {"expect_text": "1 OPEN"}, {"expect_text": "tess"}]
    found += [{"expect_text": "TESS"}, waited]
    # hidden text is on neither case of the page
    found += [{"expect_no_text": "secret words"}]
    # neither case of it may be on the page: the journey's last step (the goto is its first)
    assert _steps(running, tmp_path, *found, {"expect_no_text": "1 open"}) == len(found) + 2


def test_exact_looks_only_at_the_case_shown(running, tmp_path: Path) -> None:
    shown = {"expect_text": {"text": "1 OPEN", "exact": True}}
    written = {"expect_text": {"text": "1 open", "exact": True}}
    exact_wait = {"wait_for": {"text": "tess", "exact": True, "timeout_ms": 2000}}
    passing = [shown, {"expect_no_text": {"text": "TESS", "exact": True}}, exact_wait]
    # one journey as above: what is shown passes, what is written fails, as its last step
    assert _steps(running, tmp_path, *passing, written) == len(passing) + 2


def test_text_is_found_across_line_breaks_and_inline_elements(running, tmp_path: Path) -> None:
    """As a person reads it: a heading broken by ``<br/>`` reads "shared expenses", a
    sentence split over inline elements and a line break in the source reads as one."""
    found = [{"expect_text": "shared expenses"}, {"expect_text": "split across inline parts"}]
    assert _steps(running, tmp_path, *found, {"expect_no_text": "shared expenses"}) == 4
