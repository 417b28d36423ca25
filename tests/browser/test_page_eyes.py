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
# a settings page whose one checkbox comes after far more than one snapshot can show
ROWS = "".join(f"<li>Saved link number {i} to a page somewhere</li>" for i in range(400))
LONG = ('<!doctype html><title>Settings</title><h1>Settings</h1><ul>' + ROWS + '</ul>'
        '<section aria-label="Previews"><label><input type="checkbox"> Enable preview images'
        '</label></section>').encode()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body, kind = (FEED, "application/rss+xml; charset=utf-8") if self.path == "/feed.xml" else (PAGE, "text/html")
        body = LONG if self.path == "/settings" else body
        self.send_response(200 if self.path in ("/", "/feed.xml", "/settings") else 404)
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
    assert "HTTP 404" in str(tools.request({"url": "/missing"}))


def test_fetch_reaches_only_the_app(tools: BrowserTools) -> None:
    for elsewhere in ("http://127.0.0.1:1/", "https://example.com/feed.xml", "file:///etc/passwd"):
        with pytest.raises(ToolError, match="not part of the app"):
            tools.request({"url": elsewhere})


def test_the_sealed_validator_is_given_both(tmp_path: Path) -> None:
    import yaml

    declared = yaml.safe_load((validators_dir() / "sealed_browser.yaml").read_text())["tools"]
    assert {"browser_head", "browser_fetch", "browser_request"} <= set(declared)


def test_a_cut_snapshot_says_so_and_a_scope_or_an_offset_reaches_the_checkbox(
    tools: BrowserTools,
) -> None:
    handlers = tools.handlers()
    try:
        opened = str(handlers["browser_navigate"]({"url": "/settings"}))
        whole = str(handlers["browser_snapshot"]({}))
        assert "snapshot cut at 3,000 characters: browser_snapshot with offset 3000" in opened
        assert "[snapshot cut at 12,000 characters: browser_snapshot with offset 12000" in whole
        assert "Enable preview images" not in whole
        total = int(whole.split(" of ", 1)[1].split("]", 1)[0].replace(",", ""))
        scoped = str(handlers["browser_snapshot"]({"role": "region", "name": "Previews"}))
        assert 'scope: region "Previews"' in scoped
        assert 'checkbox "Enable preview images"' in scoped and "Saved link" not in scoped
        by_label = str(handlers["browser_snapshot"]({"label": "Enable preview images"}))
        assert "checkbox" in by_label
        tail = str(handlers["browser_snapshot"]({"offset": total - 200}))
        assert f"of {total:,}]" in tail and "Enable preview images" in tail
        assert "snapshot cut" not in tail
    finally:
        tools.open_home()


def test_acting_on_an_element_that_does_not_exist_names_the_nearest(tools: BrowserTools) -> None:
    handlers = tools.handlers()
    try:
        handlers["browser_navigate"]({"url": "/settings"})
        with pytest.raises(ToolError) as clicked:
            handlers["browser_click"]({"role": "checkbox", "name": "Enable previews"})
        said = str(clicked.value)
        assert said.startswith('no element matches checkbox "Enable previews"; nearest: ')
        assert 'checkbox "Enable preview images"' in said and "Timeout" not in said
        with pytest.raises(ToolError, match="no element matches label 'Preview size'"):
            handlers["browser_type"]({"label": "Preview size", "text": "large"})
        with pytest.raises(ToolError, match="no element matches selector '#missing'"):
            handlers["browser_snapshot"]({"selector": "#missing"})
        assert [o.error for o in tools.observed[-3:]] == [True, True, True]  # each recorded
    finally:
        tools.open_home()


def test_a_request_is_refused_before_it_leaves_when_the_browser_would_change_it(
    tools: BrowserTools,
) -> None:
    request = tools.handlers()["browser_request"]
    with pytest.raises(ToolError, match="a page cannot set cookie, host \\(cookies"):
        request({"url": "/", "headers": {"Cookie": "a=b", "Host": "x", "X-Ok": "1"}})
    with pytest.raises(ToolError, match="give json or form, not both"):
        request({"url": "/", "method": "POST", "json": {}, "form": {}})
    shown = str(request({"url": "/feed.xml", "method": "HEAD", "cookies": False}))
    assert "/feed.xml -> HTTP 501 Unsupported method ('HEAD')" in shown  # the app has no HEAD
    assert "sent: headers none; the session's cookies not sent" in shown
