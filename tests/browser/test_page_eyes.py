"""What a page serves beyond its visible body, as the sealed validator reads it: the head's
``<link>`` and ``<meta>``, and any address of the app with its status and content type. A
real app in the sandbox, a real confined Chromium in its network namespace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.browser.tools import BrowserTools
from harness.errors import ToolError
from harness.paths import validators_dir
from tests.browser.serving import NEEDS_BROWSER, served

pytestmark = NEEDS_BROWSER

APP = r"""
import argparse
from http.server import BaseHTTPRequestHandler, HTTPServer

PAGE = (b'<!doctype html><html><head><title>Bookmarks</title>'
        b'<meta name="description" content="Saved links">'
        b'<link rel="alternate" type="application/rss+xml" title="Feed" href="/feed.xml">'
        b'<script>document.title = document.title + "";</script>'
        b'</head><body><h1>Bookmarks</h1></body></html>')
FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Bookmarks\x07</title></channel></rss>'


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body, kind = (FEED, "application/rss+xml; charset=utf-8") if self.path == "/feed.xml" else (PAGE, "text/html")
        self.send_response(200 if self.path in ("/", "/feed.xml") else 404)
        self.send_header("Content-Type", kind)
        self.send_header("X-Served-By", "bookmarks")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        raise SystemExit("no write may reach the app")


parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
HTTPServer(("127.0.0.1", parser.parse_args().port), Handler).serve_forever()
"""


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserTools]:
    folder = tmp_path_factory.mktemp("bookmarks")
    (folder / "app.py").write_text(APP)
    with served(folder, "python3 app.py --port {port}") as (app, session):
        eyes = BrowserTools(session, app.base_url, folder / "shots")
        try:
            eyes.open_home()
            yield eyes
        finally:
            eyes.close()


def test_the_head_shows_the_alternate_link_and_the_meta(tools: BrowserTools) -> None:
    seen = tools.handlers()["browser_head"]({})
    assert "title: Bookmarks" in str(seen)
    (link,) = [line for line in str(seen).splitlines() if line.startswith("link ")]
    assert "rel='alternate'" in link and "href='/feed.xml'" in link
    assert "type='application/rss+xml'" in link
    assert "meta name='description' content='Saved links'" in str(seen)


def test_fetch_shows_the_feed_its_status_and_content_type(tools: BrowserTools) -> None:
    seen = str(tools.handlers()["browser_fetch"]({"url": "/feed.xml"}))
    assert "/feed.xml -> HTTP 200" in seen
    assert "content-type: application/rss+xml; charset=utf-8" in seen
    assert "x-served-by: bookmarks" in seen
    assert "<rss version=" in seen and "\\x07" in seen and "\x07" not in seen  # shown, not sent
    assert "HTTP 404" in str(tools.fetch({"url": "/missing"}))


def test_fetch_reaches_only_the_app(tools: BrowserTools) -> None:
    for elsewhere in ("http://127.0.0.1:1/", "https://example.com/feed.xml", "file:///etc/passwd"):
        with pytest.raises(ToolError, match="not part of the app"):
            tools.fetch({"url": elsewhere})


def test_the_sealed_validator_is_given_both(tmp_path: Path) -> None:
    import yaml

    declared = yaml.safe_load((validators_dir() / "sealed_browser.yaml").read_text())["tools"]
    assert {"browser_head", "browser_fetch"} <= set(declared)
