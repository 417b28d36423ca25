"""The sealed validator's browser tools (the names `validators/sealed_browser.yaml`
declares) over one page of the app; what each answers the model with is in
docs/how-it-works.md (the sealed validator). The snapshot is Playwright's ARIA snapshot; a
screenshot is a JPEG of at most ``SHOT_WIDTH`` x ``SHOT_HEIGHT`` CSS pixels, ``MAX_SHOT_BYTES``.
An HTTP request (``browser_request``, and ``browser_fetch``'s GET) is made by the page itself:
the browser's own network, which reaches the app and nothing else."""

from __future__ import annotations

import base64
import contextlib
import difflib
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar
from urllib.parse import urljoin

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import FloatRect, Locator

from harness.browser.chromium import BrowserSession, origin_of
from harness.browser.results import Observation
from harness.errors import ToolError
from harness.model.blocks import Handler, Image, ToolOutput

TIMEOUT_MS = 5000
MAX_SNAPSHOT = 12_000
MAX_STEP_SNAPSHOT = 3_000  # the snapshot that comes back with navigate, click and submit
VIEWPORT = MappingProxyType({"width": 1024, "height": 768})
SHOT_WIDTH = 1024
SHOT_HEIGHT = 1536
MAX_SHOT_BYTES = 400_000
T = TypeVar("T")
MAX_HEAD_ENTRIES = 100
MAX_FETCH_BODY = 20_000
# the document's head as data: title, every <link> and <meta> with their attributes
_HEAD_JS = """() => ({
  title: document.title,
  entries: [...document.head ? document.head.querySelectorAll('link, meta') : []].map(e =>
    [e.tagName.toLowerCase(), [...e.attributes].map(a => [a.name, a.value])])
})"""
# one request to the app, built and sent by the page (the browser's own network, same
# origin): a header the browser would drop (the Fetch standard's forbidden names: Cookie,
# Host, Origin, Sec-* …) is refused rather than silently left out
_REQUEST_JS = """async ([url, ask]) => {
  if ('json' in ask && 'form' in ask) throw new Error('give json or form, not both');
  const headers = new Headers(ask.headers || {});
  if ('json' in ask && !headers.has('content-type'))
    headers.set('content-type', 'application/json');
  const body = 'json' in ask ? JSON.stringify(ask.json)
    : 'form' in ask ? new URLSearchParams(ask.form) : undefined;
  const request = new Request(url, {method: ask.method || 'GET', headers, body, redirect: 'follow',
                                    credentials: ask.cookies === false ? 'omit' : 'same-origin'});
  const dropped = [...headers.keys()].filter(name => !request.headers.has(name));
  if (dropped.length)
    throw new Error(`a page cannot set ${dropped.join(', ')} (cookies: send the session's)`);
  const r = await fetch(request);
  return {method: request.method, sent: [...request.headers.keys()], status: r.status,
          reason: r.statusText, url: r.url, redirected: r.redirected,
          headers: [...r.headers.entries()], body: await r.text()};
}"""
# an element of an ARIA snapshot line and its name or text: `- role "name"`, `- role: text`
_NAMED = re.compile(r'^\s*- (\w+)(?: "((?:[^"\\]|\\.)*)"|: (.+))', re.MULTILINE)


def _clip(text: str, limit: int) -> str:
    """Untrusted text from the app, bounded, control characters (not newline, tab) escaped."""
    cleaned = "".join(c if c in "\n\t" or c.isprintable() else repr(c)[1:-1] for c in text)
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + f"\n[cut at {limit:,}]"


def _text(data: dict[str, object], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ToolError(f"{key} must be a string")
    return value


def _window(text: str, offset: object, limit: int) -> str:
    """``limit`` characters of ``text`` from ``offset``, saying where it was cut and how to
    read on."""
    if not isinstance(offset, int) or offset < 0:
        raise ToolError("offset must be a whole number of characters, 0 or more")
    end = offset + limit
    if not offset and end >= len(text):
        return text
    said = f"[characters {offset:,} to {min(end, len(text)):,} of {len(text):,}"
    if end >= len(text):
        return f"{said}]\n{text[offset:]}"
    return (
        f"{said}]\n{text[offset:end]}\n[snapshot cut at {end:,} characters: "
        f"browser_snapshot with offset {end} reads on, or with a scope]"
    )


class BrowserTools:
    def __init__(self, session: BrowserSession, base_url: str, shots_dir: Path) -> None:
        self.base_url = base_url
        self.context, self.guard = session.new_context(base_url, viewport=dict(VIEWPORT))
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.shots_dir = shots_dir
        self.shots: list[str] = []
        self.observed: list[Observation] = []

    def close(self) -> None:
        self.context.close()

    def _guarded(self, fn: Callable[[], T], target: tuple[Locator, str] | None = None) -> T:
        """``fn``; Playwright's error in one line, or, when ``target`` finds no element, that
        no element matches it, with the page's nearest names."""
        try:
            return fn()
        except PlaywrightError as exc:
            said = str(exc).splitlines()[0][:300]
            with contextlib.suppress(PlaywrightError):
                if target is not None and target[0].count() == 0:
                    said = self._no_match(target[1])
            raise ToolError(said) from exc

    def _no_match(self, named: str) -> str:
        found = _NAMED.findall(self.page.locator("body").aria_snapshot())
        names = [f'{role} "{(name or text)[:80]}"' for role, name, text in found]
        nearest = difflib.get_close_matches(named, list(dict.fromkeys(names)), n=5, cutoff=0)
        return f"no element matches {named}; nearest: {', '.join(nearest) or '(none named)'}"

    def _page_text(self, limit: int, data: dict[str, object] | None = None) -> str:
        """The page's accessible snapshot (of the element ``data`` scopes it to), ``limit``
        characters of it from ``data``'s offset."""
        data = data or {}
        scoped = any(data.get(k) for k in ("role", "label", "text", "selector"))
        target = self._locate(data) if scoped else (self.page.locator("body"), "")
        text = self._guarded(lambda: target[0].first.aria_snapshot(), target)
        scope = f"\nscope: {target[1]}" if scoped else ""
        return f"URL: {self.page.url}{scope}\n{_window(text, data.get('offset', 0), limit)}"

    def _locate(self, data: dict[str, object]) -> tuple[Locator, str]:
        """The elements ``data`` names (a role and name, a label, a text or a CSS selector),
        and how, as the answer says it."""
        role = _text(data, "role")
        name = _text(data, "name")
        label = _text(data, "label")
        text = _text(data, "text")
        selector = _text(data, "selector")
        if role:
            found = self.page.get_by_role(role, name=name)  # type: ignore[arg-type]
            return found, f'{role} "{name or ""}"'
        if label:
            return self.page.get_by_label(label), f"label {label!r}"
        if text:
            return self.page.get_by_text(text), f"text {text!r}"
        if selector:
            return self.page.locator(selector), f"selector {selector!r}"
        raise ToolError("give role (and name), label, text or selector")

    def _app_url(self, data: dict[str, object], verb: str) -> str:
        url = urljoin(self.base_url, _text(data, "url") or "/")
        if origin_of(url) != origin_of(self.base_url):
            raise ToolError(f"{url} is not part of the app; only {self.base_url} can be {verb}")
        return url

    def open_home(self) -> str:
        """Open the app's home page (before the validator's first turn)."""
        return self.navigate({"url": "/"})

    def navigate(self, data: dict[str, object]) -> str:
        url = self._app_url(data, "visited")

        def go() -> str:
            response = self.page.goto(url, wait_until="load")
            status = response.status if response is not None else "?"
            return (
                f"opened {self.page.url} (HTTP {status}); title: {self.page.title()!r}\n"
                f"{self._page_text(MAX_STEP_SNAPSHOT)}"
            )

        return self._guarded(go)

    def click(self, data: dict[str, object]) -> str:
        target = self._locate(data)

        def act() -> str:
            target[0].first.click()
            self.page.wait_for_load_state("load")
            return f"clicked\n{self._page_text(MAX_STEP_SNAPSHOT)}"

        return self._guarded(act, target)

    def type_text(self, data: dict[str, object]) -> str:
        text = _text(data, "text")
        if text is None:
            raise ToolError("text is required")
        target = self._locate({**data, "text": None})  # its text is what it types

        def act() -> str:
            field = target[0].first
            field.fill(text)
            typed = f"typed {len(text)} characters; the field now holds {field.input_value()!r}"
            if not data.get("submit"):
                return typed
            field.press("Enter")
            self.page.wait_for_load_state("load")
            return f"{typed}, then pressed Enter\n{self._page_text(MAX_STEP_SNAPSHOT)}"

        return self._guarded(act, target)

    def press_key(self, data: dict[str, object]) -> str:
        key = _text(data, "key")
        if not key:
            raise ToolError("key is required")

        def act() -> str:
            self.page.keyboard.press(key)
            return f"pressed {key}"

        return self._guarded(act)

    def head(self, data: dict[str, object]) -> str:
        """The current document's head: its title, every ``<link>`` and ``<meta>``."""
        found = self._guarded(lambda: self.page.evaluate(_HEAD_JS))
        lines = [f"head of {self.page.url}", f"title: {_clip(str(found['title']), 300)}"]
        for tag, attributes in found["entries"][:MAX_HEAD_ENTRIES]:
            shown = " ".join(f"{name}={_clip(str(value), 300)!r}" for name, value in attributes)
            lines.append(f"{tag} {shown}")
        if len(found["entries"]) > MAX_HEAD_ENTRIES:
            lines.append(f"[{len(found['entries']) - MAX_HEAD_ENTRIES} more entries not shown]")
        return "\n".join(lines)

    def request(self, data: dict[str, object]) -> str:
        """One request to an address of the app, made by the page: its method, headers and a
        JSON or form body, with the session's cookies or without; status, headers and the
        body as text. Never another origin."""
        url = self._app_url(data, "requested")
        got = self._guarded(lambda: self.page.evaluate(_REQUEST_JS, [url, data]))
        answer = dict(got["headers"])
        body = str(got["body"])
        cookies = "not sent" if data.get("cookies") is False else "sent"
        lines = [
            f"{got['method']} {url} -> HTTP {got['status']} {_clip(str(got['reason']), 100)}"
            + (f" (redirected to {got['url']})" if got["redirected"] else ""),
            f"sent: headers {', '.join(got['sent']) or 'none'}; the session's cookies {cookies}",
            f"content-type: {answer.get('content-type', '(none)')}",
            "headers: " + "; ".join(f"{k}: {_clip(v, 200)}" for k, v in sorted(answer.items())),
            f"body ({len(body):,} characters):",
            _clip(body, MAX_FETCH_BODY),
        ]
        return "\n".join(lines)

    def snapshot(self, data: dict[str, object]) -> str:
        return self._page_text(MAX_SNAPSHOT, data)

    def screenshot(self, data: dict[str, object]) -> ToolOutput:
        self.shots_dir.mkdir(parents=True, exist_ok=True)
        path = self.shots_dir / f"validator-{len(self.shots) + 1:02d}.png"

        def shoot() -> bytes:
            """The JPEG to show, or nothing when even the smaller one is too large."""
            self.page.screenshot(path=str(path), full_page=True)
            height = self.page.evaluate("document.documentElement.scrollHeight")
            clip = FloatRect(x=0, y=0, width=SHOT_WIDTH, height=min(int(height), SHOT_HEIGHT))
            for quality in (70, 40):
                jpeg = self.page.screenshot(type="jpeg", quality=quality, full_page=True, clip=clip)
                if len(jpeg) <= MAX_SHOT_BYTES:
                    return jpeg
            return b""

        image = self._guarded(shoot)
        self.shots.append(str(path))
        text = f"saved screenshot {path.name} as evidence; the page at {self.page.url}:"
        if not image:
            return ToolOutput(f"{text} (too large to show; use browser_snapshot)")
        return ToolOutput(text, (Image("image/jpeg", base64.b64encode(image).decode("ascii")),))

    def handlers(self) -> dict[str, Handler]:
        """The tools by name, each call recorded in ``observed`` (see ``_observing``)."""
        tools: dict[str, Handler] = {
            "browser_navigate": self.navigate,
            "browser_click": self.click,
            "browser_type": self.type_text,
            "browser_press_key": self.press_key,
            "browser_snapshot": self.snapshot,
            "browser_take_screenshot": self.screenshot,
            "browser_head": self.head,
            "browser_fetch": lambda data: self.request({"url": data.get("url")}),
            "browser_request": self.request,
        }
        return {name: self._observing(name, tool) for name, tool in tools.items()}

    def _observing(self, name: str, tool: Handler) -> Handler:
        """``tool``, recording what it was asked and a digest of what it showed (an error
        too): the record lets a later run check, without a model, that the same actions on
        another build of the app show exactly the same thing."""

        def call(data: dict[str, object]) -> str | ToolOutput:
            try:
                output = tool(data)
            except ToolError as exc:
                self.observed.append(
                    Observation(name, dict(data), self._seen(f"error: {exc}"), error=True)
                )
                raise
            self.observed.append(Observation(name, dict(data), self._seen(output)))
            return output

        return call

    def _seen(self, output: str | ToolOutput) -> str:
        """A digest of what the model was shown, with the app's address (a port of its own
        in every run) written as ``{app}``."""
        text = output if isinstance(output, str) else output.text
        digest = hashlib.sha256(text.replace(self.base_url.rstrip("/"), "{app}").encode())
        for image in [] if isinstance(output, str) else output.images:
            digest.update(b"\0" + image.data_b64.encode())
        return digest.hexdigest()


def first_difference(tools: BrowserTools, observed: list[Observation]) -> int | None:
    """The validator's recorded calls done again, in order, on ``tools``' fresh page of
    another build of the app: the index of the first call that shows something else than it
    showed the validator, or None when every one shows the same."""
    tools.open_home()  # where the validator started
    handlers = tools.handlers()
    for index, record in enumerate(observed):
        handler = handlers.get(record.tool)
        if handler is None:
            return index
        with contextlib.suppress(ToolError):  # recorded as an error: compared like any output
            handler(dict(record.input))
        if tools.observed[-1].seen != record.seen:
            return index
    return None
