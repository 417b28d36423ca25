"""How long a journey step waits: a page that runs nothing (no script, handler, frame or
refresh) changes only by navigating, so once its network is idle a step waiting on it fails
at once; a page with scripts, or a navigation still under way, gets the whole limit.

The step limit is set far beyond the test's own time limit here: a step that waited for it
would fail the test, whatever the machine's speed; nothing below measures time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.browser import runner
from harness.browser.chromium import BrowserSession
from harness.browser.journeys import Journey
from harness.browser.runner import run_journey
from tests.browser.serving import NEEDS_BROWSER, served

pytestmark = NEEDS_BROWSER

# /static: a form and no script; its POST answers a second and a half later (longer than a
# step looks before asking whether the page can change). /scripted: a button a script adds
# after a second and a half.
APP = """
import sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

STATIC = (b"<!doctype html><title>s</title><h1>Form</h1><form method=post action=/slow>"
          b"<label for=n>Note</label><input id=n name=n><button type=submit>Save</button></form>")
SCRIPTED = (b"<!doctype html><title>d</title><h1>Later</h1><script>setTimeout(() => {"
            b"const b = document.createElement('button'); b.textContent = 'Late';"
            b"document.body.append(b)}, 1500)</script>")

class Handler(BaseHTTPRequestHandler):
    def _send(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._send(SCRIPTED if self.path == "/scripted" else STATIC)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(1.5)
        self._send(b"<!doctype html><title>ok</title><p>Saved</p>")

HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""
FOREVER_MS = 3_600_000  # past the test's own time limit


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, BrowserSession]]:
    folder = tmp_path_factory.mktemp("waiting")
    (folder / "app.py").write_text(APP)
    with served(folder, "python3 app.py {port}") as (app, session):
        yield app.base_url, session


def _journey(*steps: dict[str, object]) -> Journey:
    return Journey.model_validate({"name": "waiting", "steps": list(steps)})


@pytest.fixture
def forever(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "STEP_TIMEOUT_MS", FOREVER_MS)


@pytest.mark.usefixtures("forever")
def test_a_step_on_a_page_that_runs_nothing_fails_without_waiting_out_its_limit(
    running: tuple[str, BrowserSession], tmp_path: Path
) -> None:
    url, session = running
    missing = _journey({"goto": "/static"}, {"click": {"role": "button", "name": "Delete"}})
    result = run_journey(session, url, missing, tmp_path)
    assert not result.passed and result.failed_step == 2
    assert "no element matching click" in (result.actual or "") and "Form" in (result.actual or "")
    text = _journey({"goto": "/static"}, {"expect_text": "Deleted"})
    assert run_journey(session, url, text, tmp_path).failed_step == 2
    path = _journey({"goto": "/static"}, {"expect_url": "/elsewhere"})
    assert run_journey(session, url, path, tmp_path).failed_step == 2


@pytest.mark.usefixtures("forever")
def test_a_navigation_under_way_is_waited_for(
    running: tuple[str, BrowserSession], tmp_path: Path
) -> None:
    url, session = running
    save = _journey(
        {"goto": "/static"}, {"click": {"role": "button", "name": "Save"}}, {"expect_text": "Saved"}
    )
    result = run_journey(session, url, save, tmp_path)
    assert result.passed, result
    # Enter in the field submits the form: nothing waits for that navigation but the step
    enter = _journey(
        {"goto": "/static"},
        {"fill": {"label": "Note", "value": "x"}},
        {"press": "Enter"},
        {"expect_text": "Saved"},
    )
    result = run_journey(session, url, enter, tmp_path)
    assert result.passed, result


def test_a_page_with_scripts_gets_the_whole_limit(
    running: tuple[str, BrowserSession], tmp_path: Path
) -> None:
    url, session = running
    late = _journey(
        {"goto": "/scripted"},
        {"click": {"role": "button", "name": "Late"}},
        {"expect_text": "Late"},
    )
    result = run_journey(session, url, late, tmp_path)
    assert result.passed, result
