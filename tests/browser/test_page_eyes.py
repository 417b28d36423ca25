"""What a page serves beyond its visible body, as the sealed validator reads it: the head's
``<link>`` and ``<meta>``, and any address of the app with its status and content type. A
real app in the sandbox, a real confined Chromium in its network namespace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.browser.tools import BrowserTools, Fetch
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
# a bookmark form whose only Notes field sits in a closed group, as linkding's does
CLOSED = (b'<!doctype html><title>New bookmark</title><form action="/bookmarks" method="post">'
          b'<label>URL <input name="url"></label><details><summary>Advanced</summary>'
          b'<label>Notes <textarea name="notes"></textarea></label></details>'
          b'<button>Save</button></form>')
# two forms, the second with a CSRF token in a hidden input
FORMS = (b'<!doctype html><title>Forms</title>'
         b'<form id="search" action="/search"><label>Query <input name="q"></label>'
         b'<button>Search</button></form>'
         b'<form id="add" action="/bookmarks" method="post">'
         b'<input type="hidden" name="csrfmiddlewaretoken" value="csrf-0123456789">'
         b'<label>URL <input name="url"></label><button>Add</button></form>')
LOGIN = (b'<!doctype html><title>Log in</title><form><label>User <input name="user"></label>'
         b'<label>Password <input type="password" name="pw"></label></form>')
# a field the browser itself refuses a short value for, with its own message
SIGNUP = (b'<!doctype html><title>Sign up</title><form action="/signed"><label>Name '
          b'<input name="name" minlength="10" required></label><button>Sign up</button></form>')
# a Bootstrap modal, shown: a dialog to a person, with no role of its own
MODAL = (b'<!doctype html><title>Notes</title><h1>Notes</h1><div class="modal fade show" '
         b'style="display:block"><div class="modal-dialog"><div class="modal-content">'
         b'<h5 class="modal-title">Delete this note?</h5><button>Delete</button></div></div></div>')
# a button a cover lies over
COVERED = (b'<!doctype html><title>Covered</title><button>Save</button><div id="cover" '
           b'class="overlay" style="position:fixed;inset:0;background:rgba(0,0,0,.4)"></div>')


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body, kind = (FEED, "application/rss+xml; charset=utf-8") if self.path == "/feed.xml" else (PAGE, "text/html")
        pages = {"/settings": LONG, "/new": CLOSED, "/forms": FORMS, "/login": LOGIN}
        pages |= {"/signup": SIGNUP, "/modal": MODAL, "/covered": COVERED}
        body = pages.get(self.path, body)
        self.send_response(200 if self.path in ("/", "/feed.xml", *pages) else 404)
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


def load_sealed_text():
    from harness.engine.definition import parse_validator
    from harness.paths import shipped_text

    return parse_validator(shipped_text("validators", "sealed_browser"), "sealed_browser.yaml")


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserTools]:
    folder = tmp_path_factory.mktemp("bookmarks")
    (folder / "app.py").write_text(APP)
    with served(folder, "python3 app.py --port {port}") as (app, session):
        names = load_sealed_text().secret_names  # what the shipped definition masks
        eyes = BrowserTools(session, app.base_url, folder / "shots", secret_names=names)
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


def test_requests_reach_only_the_app_and_never_set_host(tools: BrowserTools) -> None:
    """Refused before anything is sent (what the answers hold is checked through the seal,
    whose driver shares the app's network: ``tests/validate/test_validators_data.py``)."""
    for elsewhere in ("http://127.0.0.1:1/", "https://example.com/feed.xml", "file:///etc/passwd"):
        with pytest.raises(ToolError, match="not part of the app"):
            tools.request(Fetch(url=elsewhere))
    with pytest.raises(ToolError, match="a request cannot set host"):
        tools.request(Fetch(url="/", headers={"Host": "x", "X-Ok": "1"}))
    # outside the app's network namespace there is no client to send them: not offered
    assert not {"browser_fetch", "browser_request"} & set(tools.handlers())


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
        assert "[cut at 3,000 characters: browser_snapshot with offset 3000 reads on]" in opened
        assert "[cut at 12,000 characters: browser_snapshot with offset 12000 reads on]" in whole
        assert "Enable preview images" not in whole
        total = int(whole.split(" of ", 1)[1].split("]", 1)[0].replace(",", ""))
        scoped = str(handlers["browser_snapshot"]({"role": "region", "name": "Previews"}))
        assert 'scope: region "Previews"' in scoped
        assert 'checkbox "Enable preview images"' in scoped and "Saved link" not in scoped
        by_label = str(handlers["browser_snapshot"]({"label": "Enable preview images"}))
        assert "checkbox" in by_label
        tail = str(handlers["browser_snapshot"]({"offset": total - 200}))
        assert f"of {total:,}]" in tail and "Enable preview images" in tail
        assert "[cut at" not in tail
    finally:
        tools.open_home()


def test_acting_on_an_element_that_does_not_exist_names_the_nearest(tools: BrowserTools) -> None:
    handlers = tools.handlers()
    try:
        handlers["browser_navigate"]({"url": "/settings"})
        with pytest.raises(ToolError) as clicked:
            handlers["browser_click"]({"role": "checkbox", "name": "Enable previews"})
        number, said = str(clicked.value).split("] ", 1)
        assert number == f"[observation {len(tools.observed)}"  # its number, as recorded
        assert said.startswith('no element matches checkbox "Enable previews"; nearest: ')
        assert 'checkbox "Enable preview images"' in said and "Timeout" not in said
        with pytest.raises(ToolError, match="no element matches label 'Preview size'"):
            handlers["browser_type"]({"label": "Preview size", "text": "large"})
        with pytest.raises(ToolError, match="no element matches selector '#missing'"):
            handlers["browser_snapshot"]({"selector": "#missing"})
        assert [o.error for o in tools.observed[-3:]] == [True, True, True]  # each recorded
    finally:
        tools.open_home()


def test_a_fill_in_a_closed_group_names_the_group_and_how_to_open_it(tools: BrowserTools) -> None:
    handlers = tools.handlers()
    try:
        handlers["browser_navigate"]({"url": "/new"})
        with pytest.raises(ToolError) as filled:
            handlers["browser_type"]({"label": "Notes", "text": "read later"})
        said = str(filled.value)
        assert 'it is inside the closed group "Advanced": open it first' in said, said
        assert 'browser_click on its summary, text "Advanced"' in said and "Timeout" not in said
        assert tools.observed[-1].error
        handlers["browser_click"]({"text": "Advanced"})  # its summary opens it
        typed = str(handlers["browser_type"]({"label": "Notes", "text": "read later"}))
        assert "the field now holds 'read later'" in typed
    finally:
        tools.open_home()


def test_a_scoped_snapshot_says_how_many_match_and_lists_a_forms_hidden_inputs(
    tools: BrowserTools,
) -> None:
    handlers = tools.handlers()
    try:
        handlers["browser_navigate"]({"url": "/forms"})
        both = str(handlers["browser_snapshot"]({"selector": "form"}))
        assert "scope: selector 'form' (2 elements match, the 1st is shown: " in both, both
        assert '1. form#search action="/search" "Query Search"' in both
        assert '2. form#add action="/bookmarks" "URL Add"' in both
        assert 'textbox "Query"' in both and "csrfmiddlewaretoken" not in both  # the first
        add = str(handlers["browser_snapshot"]({"selector": "form#add"}))
        assert '- hidden input "csrfmiddlewaretoken": csrf-0123456789' in add, add
        assert "elements match" not in add
        whole = str(handlers["browser_snapshot"]({}))
        assert "hidden input" not in whole  # the page's own snapshot is as it was
    finally:
        tools.open_home()


def test_what_is_typed_into_a_password_field_is_held_as_a_secret_to_mask(
    tools: BrowserTools,
) -> None:
    from harness.redact import masked

    handlers = tools.handlers()
    try:
        handlers["browser_navigate"]({"url": "/login"})
        handlers["browser_type"]({"label": "User", "text": "alice-the-user"})
        handlers["browser_type"]({"label": "Password", "text": "hunter2-secret"})
        assert "hunter2-secret" in tools.secrets and "alice-the-user" not in tools.secrets
        kept = masked([o.input for o in tools.observed[-2:]], tools.secrets)
        assert kept == [
            {"label": "User", "text": "alice-the-user"},
            {"label": "Password", "text": "[masked]"},
        ]
    finally:
        tools.open_home()


def test_a_field_the_browser_refuses_shows_its_own_message_in_the_snapshot(
    tools: BrowserTools,
) -> None:
    """What a person sees as the browser's bubble: a submit refused for a value too short."""
    handlers = tools.handlers()
    try:
        handlers["browser_navigate"]({"url": "/signup"})
        handlers["browser_type"]({"label": "Name", "text": "abc"})
        clicked = str(handlers["browser_click"]({"role": "button", "name": "Sign up"}))
        assert "/signup" in clicked  # the browser kept the page: nothing was sent
        said = '- invalid field "Name": Please lengthen this text to 10 characters or more'
        assert said in clicked, clicked
        assert said in str(handlers["browser_snapshot"]({}))
    finally:
        tools.open_home()


def test_role_dialog_finds_a_modal_that_says_no_role(tools: BrowserTools) -> None:
    handlers = tools.handlers()
    try:
        handlers["browser_navigate"]({"url": "/modal"})
        modal = str(handlers["browser_snapshot"]({"role": "dialog"}))
        assert 'scope: dialog ""' in modal and "Delete this note?" in modal, modal
        assert 'button "Delete"' in modal and 'heading "Notes"' not in modal
    finally:
        tools.open_home()


def test_a_click_something_covers_names_what_is_in_the_way(tools: BrowserTools) -> None:
    handlers = tools.handlers()
    try:
        handlers["browser_navigate"]({"url": "/covered"})
        with pytest.raises(ToolError) as blocked:
            handlers["browser_click"]({"role": "button", "name": "Save"})
        said = str(blocked.value)
        assert '<div id="cover" class="overlay"' in said and "it is in the way" in said, said
    finally:
        tools.open_home()
