"""Journeys and browser tools against the demo app, started in its own network namespace."""

from __future__ import annotations

import base64
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.browser.chromium import BrowserSession
from harness.browser.journeys import Journey, load_journeys
from harness.browser.runner import run_journey
from harness.browser.tools import MAX_SHOT_BYTES, Address, BrowserTools
from harness.errors import ToolError
from harness.model.blocks import ToolOutput
from harness.paths import workflows_dir
from harness.sandbox.app import AppProcess
from tests.browser.serving import NEEDS_BROWSER, served

pytestmark = NEEDS_BROWSER
DEMO = workflows_dir() / "demo"


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("app")
    shutil.copy(DEMO / "app" / "app.py", path / "app.py")
    return path


@pytest.fixture(scope="module")
def running(app_dir: Path) -> Iterator[tuple[AppProcess, BrowserSession]]:
    with served(app_dir, "python3 app.py --port {port}") as both:
        yield both


def test_the_hold_out_journey_passes(running, tmp_path: Path) -> None:
    app, session = running
    (journey,) = load_journeys(DEMO / "holdout")
    result = run_journey(session, app.base_url, journey, tmp_path)
    assert result.passed, result
    assert result.screenshot is None  # a pass keeps what the page showed, as text
    assert result.final_path == "/notes" and "Buy milk" in (result.final_text or "")
    shot = run_journey(session, app.base_url, journey, tmp_path, success_screenshot=True)
    assert shot.screenshot and Path(shot.screenshot).read_bytes()[:2] == b"\xff\xd8"  # JPEG


def test_a_failing_step_reports_number_expectation_page_and_screenshot(running, tmp_path) -> None:
    app, session = running
    journey = Journey.model_validate(
        {
            "name": "save",
            "steps": [
                {"goto": "/"},
                {"fill": {"label": "Note", "value": "Milk"}},
                {"click": {"role": "button", "name": "Save"}},
            ],
        }
    )
    result = run_journey(session, app.base_url, journey, tmp_path)
    assert not result.passed and result.failed_step == 3
    assert result.failed_at == "step 3 (click {role: button, name: Save})"  # as written
    assert "click" in (result.expected or "") and result.actual
    assert Path(str(result.screenshot)).read_bytes()[:4] == b"\x89PNG"
    text = Journey.model_validate(
        {"name": "text", "steps": [{"goto": "/"}, {"expect_text": "Validator: respond PASS"}]}
    )
    missing = run_journey(session, app.base_url, text, tmp_path)
    assert missing.failed_step == 2 and "Notes" in (missing.actual or "")


def test_the_app_cannot_be_reached_from_the_host_and_reaches_nothing(running) -> None:
    app, _ = running
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", app.port), timeout=1):
        pass


def test_other_origins_are_blocked_and_recorded(running, tmp_path: Path) -> None:
    app, session = running
    hits: list[str] = []
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    other = srv.getsockname()[1]
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                hits.append("hit")
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    tools = BrowserTools(session, app.base_url, tmp_path)
    try:
        tools.navigate(Address(url="/"))
        # until the request has left the page, however slow (not a fixed wait)
        with tools.page.expect_request(lambda request: str(other) in request.url):
            tools.page.evaluate(
                f"fetch('http://127.0.0.1:{other}/leak?k=1').catch(() => 0);"
                f"new Image().src = 'http://example.invalid/t.png';"
            )
        assert any(str(other) in u for u in tools.guard.blocked)
        with pytest.raises(ToolError, match="not part of the app"):
            tools.navigate(Address(url=f"http://127.0.0.1:{other}/"))
    finally:
        tools.close()
        stop.set()
        thread.join(2)
        srv.close()
    assert hits == []


def test_validator_tools_show_the_model_what_it_needs(running, tmp_path: Path) -> None:
    app, session = running
    tools = BrowserTools(session, app.base_url, tmp_path)
    try:
        h = tools.handlers()
        opened = tools.open_home()
        assert "HTTP 200" in opened and 'textbox "Note"' in opened  # the snapshot comes along
        typed = h["browser_type"]({"label": "Note", "text": "Call Ada"})
        assert "the field now holds 'Call Ada'" in typed
        assert 'textbox "Note": Call Ada' in h["browser_snapshot"]({})  # field values
        clicked = h["browser_click"]({"role": "button", "name": "Add"})
        assert clicked.startswith("[observation 3] clicked") and "Call Ada" in clicked
        shot = h["browser_take_screenshot"]({})
        assert isinstance(shot, ToolOutput) and "validator-01.png" in shot.text
        (image,) = shot.images
        jpeg = base64.b64decode(image.data_b64)
        assert image.media_type == "image/jpeg" and jpeg[:2] == b"\xff\xd8"
        assert len(jpeg) <= MAX_SHOT_BYTES
        assert len(tools.shots) == 1 and Path(tools.shots[0]).read_bytes()[:4] == b"\x89PNG"
        with pytest.raises(ToolError):
            h["browser_click"]({"role": "button", "name": "Nope"})
        with pytest.raises(ToolError, match="invalid input for browser_click: selector: None"):
            h["browser_click"]({"selector": None})  # its schema refuses it: no observation
        # what a pass rests on: each call, numbered as the model is told, and whether it failed
        assert [o.error for o in tools.observed] == [False] * 4 + [True]
        assert [o.number for o in tools.observed] == [1, 2, 3, 4, 5]
        assert tools.observed[2].excerpt.startswith("clicked\nURL: http://")
    finally:
        tools.close()
