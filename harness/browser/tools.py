"""The sealed validator's browser tools (the names `validators/sealed_browser.yaml`
declares) over one page of the app; what each answers the model with is in
docs/how-it-works.md (the sealed validator). The snapshot is Playwright's ARIA snapshot; a
screenshot is a JPEG of at most ``SHOT_WIDTH`` x ``SHOT_HEIGHT`` CSS pixels, ``MAX_SHOT_BYTES``.
An HTTP request (``browser_request``, and ``browser_fetch``'s GET) is sent by the harness's own
client (``_send``), outside the page's script (which cannot change what it sends or sees), from
the process that runs the tools: only where that process shares the app's network namespace
(the seal) are the two tools given; its answer is read up to ``MAX_BODY_BYTES`` within
``TIMEOUT_MS``, the rest left unread and the answer saying so.
Every call is an observation the harness records and numbers (``_observing``)."""

from __future__ import annotations

import base64
import contextlib
import difflib
import hashlib
import json
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urljoin, urlsplit

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import FloatRect, Locator

from harness.artifacts import JourneyResult, Observation
from harness.browser.addressing import skeleton
from harness.browser.chromium import BrowserSession, origin_of
from harness.errors import ToolError
from harness.model.blocks import Handler, Image, ToolOutput
from harness.model.tools import Nothing, Tool

if TYPE_CHECKING:  # the seal's tools read no hold-out file
    from harness.browser.journeys import Learned

TIMEOUT_MS = 5000
MAX_SNAPSHOT = 12_000
MAX_STEP_SNAPSHOT = 3_000  # the snapshot that comes back with navigate, click and submit
VIEWPORT = MappingProxyType({"width": 1024, "height": 768})
SHOT_WIDTH = 1024
SHOT_HEIGHT = 1536
MAX_SHOT_BYTES = 400_000
MAX_HEAD_ENTRIES = 100
MAX_FETCH_BODY = 12_000  # with its headers, under what one tool answer may hold (the agent's cap)
MAX_HEADERS = 2_000
MAX_BODY_BYTES = 2_000_000  # of a request's answer: read no further (the tool shows 12,000)
# of each answer, in its observation's record: above what any tool answers, so all of it
MAX_EXCERPT = 16_000
# recorded in every page before its scripts run: the text a script draws on a canvas, which
# no document holds (read with the page, ``_READ_JS``)
_DRAWN_JS = """(() => {
  const drawn = [];
  Object.defineProperty(window, '__factoryDrawn', {value: drawn});
  for (const kind of [window.CanvasRenderingContext2D, window.OffscreenCanvasRenderingContext2D])
    for (const name of ['fillText', 'strokeText']) {
      const draw = kind && kind.prototype[name];
      if (draw) kind.prototype[name] = function (text, ...rest) {
        if (drawn.length < 1000) drawn.push(String(text));
        return draw.call(this, text, ...rest);
      };
    }
})()"""
# the page as read for text that addresses the validator: its title and text as shown, every
# text node (hidden ones, scripts, SVG text), comment and attribute value, the text of an SVG
# image given inline as a data: address, and what was drawn on a canvas
_READ_JS = """() => {
  const parts = [document.title, document.body ? document.body.innerText : ''];
  const walker = document.createTreeWalker(document, NodeFilter.SHOW_ELEMENT
    | NodeFilter.SHOW_TEXT | NodeFilter.SHOW_COMMENT);
  for (let node = walker.nextNode(); node; node = walker.nextNode())
    parts.push(node.nodeType === 1 ? [...node.attributes].map(a => a.value).join('\\n')
      : node.nodeValue);
  for (const image of document.images) {
    const src = image.currentSrc || image.src, data = src.slice(src.indexOf(',') + 1);
    if (/^data:image\\/svg/i.test(src)) parts.push(
      (/;base64,/i.test(src) ? atob(data) : decodeURIComponent(data)).replace(/<[^>]*>/g, '\\n'));
  }
  return [...parts, ...(window.__factoryDrawn || [])].join('\\n');
}"""
# the fields a person was told are invalid (after typing in them, or a submit the browser
# refused), each with the browser's own message, as the snapshot lists them
_INVALID_JS = """() => [...document.querySelectorAll(':user-invalid')].slice(0, 30).map(e =>
  `\\n- invalid field ${JSON.stringify(((e.labels && e.labels[0] && e.labels[0].innerText)
    || e.name || e.id || '').trim())}: ${e.validationMessage}`).join('')"""
# what else acts as a dialog, for ``role: dialog``: a Bootstrap modal, anything aria-modal
_DIALOGS = ".modal.show, [aria-modal=true]"
# the document's head as data: title, every <link> and <meta> with their attributes
_HEAD_JS = """() => ({
  title: document.title,
  entries: [...document.head ? document.head.querySelectorAll('link, meta') : []].map(e =>
    [e.tagName.toLowerCase(), [...e.attributes].map(a => [a.name, a.value])])
})"""
# why an element cannot be used while a closed group (<details>) keeps it hidden, and how to
# open that group; or null (not in one, or that group's own summary, which opens it)
_CLOSED_JS = """e => {
  const group = e.closest('details:not([open])');
  const summary = group && group.querySelector(':scope > summary');
  if (!group || (summary && summary.contains(e))) return null;
  const named = summary ? JSON.stringify(summary.innerText.trim()) : '';
  return `it is inside the closed group ${named}: open it first (browser_click on its summary`
    + (named ? `, text ${named}` : '') + '), then try again';
}"""
# when a scope matches several elements: how many, each told apart (its tag and id, its
# naming attributes, its text), and which one is shown; '' for one
_DESCRIBE_JS = """els => els.length < 2 ? ''
  : ` (${els.length} elements match, the 1st is shown: ` + els.slice(0, 30).map((e, i) =>
    `${i + 1}. ` + [e.tagName.toLowerCase() + (e.id ? '#' + e.id : ''),
      ...['name', 'aria-label', 'action'].filter(a => e.getAttribute(a))
        .map(a => `${a}="${e.getAttribute(a)}"`),
      JSON.stringify((e.innerText || '').trim().replace(/\\s+/g, ' ').slice(0, 60))].join(' ')
  ).join('; ') + ')'"""
# the hidden inputs in an element (a form's CSRF token), which the snapshot leaves out
_HIDDEN_JS = """e => [...(e.matches('input[type=hidden]') ? [e]
    : e.querySelectorAll('input[type=hidden]'))].slice(0, 30)
  .map(i => `\\n- hidden input ${JSON.stringify(i.name || i.id)}: ${i.value}`).join('')"""
# what a field is, for telling a secret: its type, name, id, autocomplete and labels
_FIELD_JS = """e => [e.type, e.name, e.id, e.getAttribute('autocomplete'),
  ...[...(e.labels || [])].map(l => l.textContent)].join(' ')"""
# an element of an ARIA snapshot line and its name or text: `- role "name"`, `- role: text`
_NAMED = re.compile(r'^\s*- (\w+)(?: "((?:[^"\\]|\\.)*)"|: (.+))', re.MULTILINE)


def _clean(text: str) -> str:
    """Untrusted text from the app, control characters (not newline, tab) escaped."""
    return "".join(c if c in "\n\t" or c.isprintable() else repr(c)[1:-1] for c in text)


def _clip(text: str, limit: int) -> str:
    """``_clean`` text, bounded."""
    cleaned = _clean(text)
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + f"\n[cut at {limit:,}]"


# each tool's input, as its schema in workflows/tools.yaml has checked it


@dataclass(frozen=True, kw_only=True)
class Target:
    """The elements a tool acts on: by role (and name), label, text or CSS selector (the
    first given of these, in that order)."""

    role: str | None = None
    name: str | None = None
    label: str | None = None
    text: str | None = None
    selector: str | None = None


@dataclass(frozen=True, kw_only=True)
class Scope(Target):
    """A snapshot's: of the elements it names (none: the page), from ``offset``."""

    offset: int = 0


@dataclass(frozen=True, kw_only=True)
class Typing(Target):
    """``browser_type``'s: ``text`` is what it types, its field found by the others."""

    text: str
    submit: bool = False  # press Enter after


@dataclass(frozen=True)
class Key:
    key: str  # e.g. Enter, Escape


@dataclass(frozen=True)
class Address:
    url: str  # a path of the app, or a full URL


@dataclass(frozen=True)
class Fetch(Address):
    """``browser_request``'s, and ``browser_fetch``'s (a GET, which reads on from ``offset``)."""

    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    json: object = None  # a JSON body
    form: dict[str, str] | None = None  # a form body
    cookies: bool = False  # send the browser session's
    offset: int = 0


def _window(text: str, offset: int, limit: int, tool: str = "browser_snapshot") -> str:
    """``limit`` characters of ``text`` from ``offset``, saying where it was cut and how to
    read on (``tool`` with an offset)."""
    end = offset + limit
    if not offset and end >= len(text):
        return text
    said = f"[characters {offset:,} to {min(end, len(text)):,} of {len(text):,}"
    if end >= len(text):
        return f"{said}]\n{text[offset:]}"
    cut = f"[cut at {end:,} characters: {tool} with offset {end} reads on]"
    return f"{said}]\n{text[offset:end]}\n{cut}"


class BrowserTools:
    """The validator's tools on one page of the app at ``base_url``. ``requests``: whether
    this process shares the app's network namespace (the seal): without, ``browser_fetch``
    and ``browser_request`` are not offered. ``addressing`` and ``secret_names`` (the
    validator's definition) are what every observation is read for: text that addresses the
    validator (on a skeleton of it: ``harness.browser.addressing``), and values that are
    secrets (``secrets``: masked in every record the seal hands back)."""

    def __init__(
        self,
        session: BrowserSession,
        base_url: str,
        shots_dir: Path,
        requests: bool = False,
        addressing: Sequence[re.Pattern[str]] = (),
        secret_names: re.Pattern[str] | None = None,
    ) -> None:
        self.base_url, self.origin = base_url, origin_of(base_url)
        self.context, self.guard = session.new_context(base_url, viewport=dict(VIEWPORT))
        self.context.add_init_script(_DRAWN_JS)
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.shots_dir = shots_dir
        self.shots: list[str] = []
        self.observed: list[Observation] = []
        self.requests = requests
        self.addressing, self.secret_names = addressing, secret_names
        self.secrets: set[str] = set()
        self.status: int | None = None  # the HTTP status the call being observed saw
        self.asked: str | None = None  # the path a request being observed asked for
        self.quoted: set[str] = set()  # what addresses the validator, as first recorded

    def close(self) -> None:
        self.context.close()

    @contextlib.contextmanager
    def _guarded(self, target: tuple[Locator, str] | None = None) -> Iterator[None]:
        """What runs inside: Playwright's error in one line (with what is in the way of a
        click the page blocks), or, when ``target`` finds no element, that no element
        matches it, with the page's nearest names."""
        try:
            yield
        except PlaywrightError as exc:
            lines = str(exc).splitlines()
            said = lines[0][:300]
            blocked = [line.strip(" -") for line in lines if "intercepts pointer events" in line]
            if blocked:
                said = f"{said} {blocked[-1][:300]}: it is in the way"
            with contextlib.suppress(PlaywrightError):
                if target is not None and target[0].count() == 0:
                    said = self._no_match(target[1])
            raise ToolError(said) from exc

    def _no_match(self, named: str) -> str:
        found = _NAMED.findall(self.page.locator("body").aria_snapshot())
        names = [f'{role} "{(name or text)[:80]}"' for role, name, text in found]
        nearest = difflib.get_close_matches(named, list(dict.fromkeys(names)), n=5, cutoff=0)
        return f"no element matches {named}; nearest: {', '.join(nearest) or '(none named)'}"

    def _reachable(self, element: Locator) -> Locator:
        """``element``, unless a closed group (``<details>``) hides it: then why, and how to
        open it, instead of Playwright's time-out."""
        if closed := element.evaluate(_CLOSED_JS):
            raise ToolError(closed)
        return element

    def _back_on_app(self) -> str:
        """Nothing while the page is on the app's origin; else where the app sent it, once
        the page is back at the app's home: nothing another origin served is shown, and the
        page does not stay there."""
        went = self.page.url
        if origin_of(went) == self.origin:
            return ""
        self.status = None
        self.page.goto(self.base_url, wait_until="load")
        if origin_of(self.page.url) != self.origin:
            raise ToolError(f"the app sends the browser to {self.page.url}, off the app")
        return f"the app sent the browser to {went}, another origin: not shown; back home\n"

    def _page_text(self, limit: int, data: Scope = Scope()) -> str:
        """The page's accessible snapshot (of the element ``data`` scopes it to, with the
        hidden inputs in it, and how many elements the scope matched), ``limit`` characters
        of it from ``data``'s offset."""
        left = self._back_on_app()
        scoped = any((data.role, data.label, data.text, data.selector))
        target = self._locate(data) if scoped else (self.page.locator("body"), "")
        with self._guarded(target):
            text = target[0].first.aria_snapshot()
        with self._guarded():
            text += self.page.evaluate(_INVALID_JS)
        scope = ""
        if scoped:
            text += target[0].first.evaluate(_HIDDEN_JS)
            scope = f"\nscope: {target[1]}{_clip(target[0].evaluate_all(_DESCRIBE_JS), 3000)}"
        return f"{left}URL: {self.page.url}{scope}\n{_window(text, data.offset, limit)}"

    def _locate(self, data: Target) -> tuple[Locator, str]:
        """The elements ``data`` names (a role and name, a label, a text or a CSS selector),
        and how, as the answer says it; a field is not found by the text typed into it."""
        text = None if isinstance(data, Typing) else data.text
        if data.role:
            found = self.page.get_by_role(data.role, name=data.name)  # type: ignore[arg-type]
            if data.role == "dialog":  # and what acts as one without saying so
                found = found.or_(self.page.locator(_DIALOGS))
            return found, f'{data.role} "{data.name or ""}"'
        if data.label:
            return self.page.get_by_label(data.label), f"label {data.label!r}"
        if text:
            return self.page.get_by_text(text), f"text {text!r}"
        if data.selector:
            return self.page.locator(data.selector), f"selector {data.selector!r}"
        raise ToolError("give role (and name), label, text or selector")

    def _app_url(self, data: Address, verb: str) -> str:
        url = urljoin(self.base_url, data.url or "/")
        if origin_of(url) != self.origin:
            raise ToolError(f"{url} is not part of the app; only {self.base_url} can be {verb}")
        return url

    def open_home(self) -> str:
        """Open the app's home page (before the validator's first turn)."""
        return self.navigate(Address("/"))

    def navigate(self, data: Address) -> str:
        url = self._app_url(data, "visited")
        with self._guarded():
            response = self.page.goto(url, wait_until="load")
            self.status = response.status if response is not None else None
            text = self._page_text(MAX_STEP_SNAPSHOT)
            return f"opened {url} (HTTP {self.status or '?'}); title: {self.page.title()!r}\n{text}"

    def click(self, data: Target) -> str:
        target = self._locate(data)
        with self._guarded(target):
            self._reachable(target[0].first).click()
            self.page.wait_for_load_state("load")
            return f"clicked\n{self._page_text(MAX_STEP_SNAPSHOT)}"

    def type_text(self, data: Typing) -> str:
        target = self._locate(data)
        with self._guarded(target):
            field = self._reachable(target[0].first)
            field.fill(data.text)
            self._hold(field.evaluate(_FIELD_JS), data.text)
            typed = (
                f"typed {len(data.text)} characters; the field now holds {field.input_value()!r}"
            )
            if not data.submit:
                return typed
            field.press("Enter")
            self.page.wait_for_load_state("load")
            return f"{typed}, then pressed Enter\n{self._page_text(MAX_STEP_SNAPSHOT)}"

    def press_key(self, data: Key) -> str:
        if not data.key:
            raise ToolError("key is required")
        with self._guarded():
            self.page.keyboard.press(data.key)
        return f"pressed {data.key}"

    def head(self, _: Nothing) -> str:
        """The current document's head: its title, every ``<link>`` and ``<meta>``."""
        with self._guarded():
            left = self._back_on_app()
            found = self.page.evaluate(_HEAD_JS)
        lines = [f"{left}head of {self.page.url}", f"title: {_clip(str(found['title']), 300)}"]
        for tag, attributes in found["entries"][:MAX_HEAD_ENTRIES]:
            shown = " ".join(f"{name}={_clip(str(value), 300)!r}" for name, value in attributes)
            lines.append(f"{tag} {shown}")
        if len(found["entries"]) > MAX_HEAD_ENTRIES:
            lines.append(f"[{len(found['entries']) - MAX_HEAD_ENTRIES} more entries not shown]")
        return "\n".join(lines)

    def request(self, data: Fetch) -> str:
        """One request to an address of the app, sent by the harness's own client (the page's
        script never sees it: ``_send``): its method, headers and a JSON or form body, with
        the browser session's cookies only when asked; what names a secret (a header, a
        form's or a JSON body's key) is held as one. No redirect is followed: it is returned,
        with whether it stays on the app (the validator may request it) or not (it never
        is). Status, headers and the body as text, from ``data``'s offset."""
        url = self._app_url(data, "requested")
        if "host" in map(str.lower, data.headers):
            raise ToolError("a request cannot set host: it goes to the app's own address")
        named = {**data.headers, **(data.form or {})}
        if isinstance(data.json, dict):
            named.update(data.json)
        for name, value in named.items():
            self._hold(name, str(value))
        self.asked = urlsplit(url).path
        self.status, reason, answered, text, cut = self._send(url, data)
        line = f"{data.method} {url} -> HTTP {self.status} {_clip(reason, 100)}"
        if (where := answered.get("location")) and 300 <= self.status < 400:
            to = urljoin(url, where)
            away = origin_of(to) != self.origin
            why = "another origin: never requested" if away else "the app: request it to follow"
            line += f"; redirects to {to}, not followed ({why})"
        shown = "; ".join(f"{k}: {_clip(v, 200)}" for k, v in sorted(answered.items()))
        cookies = "sent" if data.cookies else "not sent"
        return "\n".join(
            [
                line,
                f"sent: headers {', '.join(sorted(map(str.lower, data.headers))) or 'none'}; "
                f"the browser session's cookies {cookies}",
                f"content-type: {answered.get('content-type', '(none)')}",
                _clip(f"headers: {shown}", MAX_HEADERS),
                f"body ({len(text):,} characters{cut}):",
                _window(_clean(text), data.offset, MAX_FETCH_BODY, "browser_fetch"),
            ]
        )

    def _send(self, url: str, data: Fetch) -> tuple[int, str, dict[str, str], str, str]:
        """``data``'s request to ``url``, over a connection of its own from this process (in
        the app's network namespace): (status, reason, headers, body, how it was cut). The
        answer is read up to ``MAX_BODY_BYTES`` and for ``TIMEOUT_MS`` in all: what came by
        then is kept, the rest never read, and the answer says so (a huge or endless body
        costs the seal nothing more); no answer by then is an error."""
        headers, body = dict(data.headers), None
        if data.form is not None or data.json is not None:
            form = data.form is not None
            body = (urlencode(data.form or {}) if form else json.dumps(data.json)).encode()
            kind = "application/x-www-form-urlencoded" if form else "application/json"
            if "content-type" not in map(str.lower, headers):
                headers["Content-Type"] = kind
        if data.cookies and (jar := self.context.cookies(url)):
            headers["Cookie"] = "; ".join(f"{c['name']}={c['value']}" for c in jar)
        parts, limit_s = urlsplit(url), TIMEOUT_MS / 1000
        connection = HTTPConnection(parts.hostname or "", parts.port, timeout=limit_s)
        deadline, read, cut = time.monotonic() + limit_s, bytearray(), ""
        try:
            path = url[len(self.origin) :].split("#")[0] or "/"
            connection.request(data.method, path, body, headers)
            answer = connection.getresponse()
        except (OSError, HTTPException) as exc:
            connection.close()
            raise ToolError(f"the request failed: {exc}") from exc
        try:
            while not cut and (chunk := answer.read1(65_536)):
                read += chunk
                if len(read) > MAX_BODY_BYTES or time.monotonic() > deadline:
                    cut = f"; cut at {min(len(read), MAX_BODY_BYTES):,} bytes: a size or time limit"
        except (OSError, HTTPException):  # it stalled or broke off: what came is kept
            cut = "; cut where it stalled or broke off"
        finally:
            connection.close()
        answered = {name.lower(): value for name, value in answer.getheaders()}
        text = bytes(read[:MAX_BODY_BYTES]).decode("utf-8", "replace")
        return answer.status, answer.reason, answered, text, cut

    def snapshot(self, data: Scope) -> str:
        with self._guarded():
            return self._page_text(MAX_SNAPSHOT, data)

    def screenshot(self, _: Nothing) -> ToolOutput:
        self.shots_dir.mkdir(parents=True, exist_ok=True)
        path = self.shots_dir / f"validator-{len(self.shots) + 1:02d}.png"
        with self._guarded():
            left = self._back_on_app()
            self.page.screenshot(path=str(path), full_page=True)
            height = self.page.evaluate("document.documentElement.scrollHeight")
            clip = FloatRect(x=0, y=0, width=SHOT_WIDTH, height=min(int(height), SHOT_HEIGHT))
            # the JPEG to show, or nothing when even the smaller one is too large
            jpegs = (
                self.page.screenshot(type="jpeg", quality=quality, full_page=True, clip=clip)
                for quality in (70, 40)
            )
            image = next((jpeg for jpeg in jpegs if len(jpeg) <= MAX_SHOT_BYTES), b"")
        self.shots.append(str(path))
        text = f"{left}saved screenshot {path.name} as evidence; the page at {self.page.url}:"
        if not image:
            return ToolOutput(f"{text} (too large to show; use browser_snapshot)")
        return ToolOutput(text, (Image("image/jpeg", base64.b64encode(image).decode("ascii")),))

    def handlers(self) -> dict[str, Handler]:
        """The tools by name, each call recorded in ``observed`` (see ``_observing``)."""
        tools: list[Tool[Any]] = [
            Tool("browser_navigate", Address, self.navigate),
            Tool("browser_click", Target, self.click),
            Tool("browser_type", Typing, self.type_text),
            Tool("browser_press_key", Key, self.press_key),
            Tool("browser_snapshot", Scope, self.snapshot),
            Tool("browser_take_screenshot", Nothing, self.screenshot),
            Tool("browser_head", Nothing, self.head),
        ]
        if self.requests:  # a GET (its offset reads on), or any request
            tools += [
                Tool(name, Fetch, self.request) for name in ("browser_fetch", "browser_request")
            ]
        return {tool.name: self._observing(tool) for tool in tools}

    def _observing(self, tool: Tool[Any]) -> Handler:
        """``tool``, each call an observation: numbered (the validator is told its number,
        which its verdict cites), and recorded with what it was asked, the status it saw, its
        answer as the validator was shown it, a digest of it (a later run checks, without a
        model, that the same actions on another build of the app show exactly the same), any
        text that addresses the validator in what it observed, and where it was made."""

        def call(data: dict[str, object]) -> str | ToolOutput:
            asked = tool.read(data)  # input its schema refuses is no observation
            self.status, self.asked, number, failed = None, None, len(self.observed) + 1, None
            try:
                output = tool.run(asked)
            except ToolError as exc:
                output, failed = f"error: {exc}", exc
            text = output if isinstance(output, str) else output.text
            page = self._look("() => [location.pathname, document.title]") or ["", ""]
            at, title = (self.asked, "") if self.asked is not None else page
            excerpt, addressed = _clean(text)[:MAX_EXCERPT], self._addressed(text)
            seen, error = self._seen(output), failed is not None
            self.observed.append(
                Observation(
                    tool.name,
                    dict(data),
                    seen,
                    error,
                    number,
                    self.status,
                    excerpt,
                    addressed,
                    at,
                    title,
                )
            )
            if failed is not None:
                raise ToolError(f"[observation {number}] {failed}") from failed
            shown = f"[observation {number}] {text}"
            return shown if isinstance(output, str) else ToolOutput(shown, output.images)

        return call

    def _look(self, script: str) -> Any:
        """What ``script`` finds on the page; None when the page cannot answer (it crashed,
        or is between two documents)."""
        with contextlib.suppress(PlaywrightError):
            return self.page.evaluate(script)
        return None

    def _addressed(self, text: str) -> str:
        """The first text that addresses the validator in what a call showed it (its answer,
        then the page as ``_READ_JS`` reads it: hidden parts, comments, SVG and canvas text
        too), read on a skeleton (``harness.browser.addressing.skeleton``) and quoted so, on
        one line, unless an earlier observation holds it; or ''."""
        if not self.addressing:
            return ""
        read = skeleton(f"{text}\n{self._look(_READ_JS) or ''}")
        found = sorted(
            (m for p in self.addressing for m in p.finditer(read) if m[0] not in self.quoted),
            key=re.Match.start,
        )
        if not found:
            return ""
        start, end = found[0].span()
        self.quoted.update(m[0] for m in found)
        line = read[max(read.rfind("\n", 0, start) + 1, start - 200) : end + 200].split("\n")[0]
        return " ".join(_clean(line).split())

    def _hold(self, name: str, value: str) -> None:
        """``value`` is a secret when ``name`` says so (``secret_names``): masked in every
        record; of ``Bearer <token>``, the token too."""
        if self.secret_names is not None and self.secret_names.search(name):
            self.secrets.update({value, value.split(" ", 1)[-1]})

    def _seen(self, output: str | ToolOutput) -> str:
        """A digest of what the model was shown, with the app's address (a port of its own
        in every run) written as ``{app}``."""
        text = output if isinstance(output, str) else output.text
        digest = hashlib.sha256(text.replace(self.base_url.rstrip("/"), "{app}").encode())
        for image in [] if isinstance(output, str) else output.images:
            digest.update(b"\0" + image.data_b64.encode())
        return digest.hexdigest()


def replay(
    session: BrowserSession, base_url: str, check: Learned, shots_dir: Path
) -> JourneyResult:
    """A learned check done again without a model, on a fresh page of the app, from the home
    page where the validator started: it holds when every action was done and the last one's
    observation shows its quote (``Observation.shows``). A tool the page lacks (a request,
    outside the seal) fails it there."""
    started = time.monotonic()
    tools = BrowserTools(session, base_url, shots_dir)
    try:
        with contextlib.suppress(ToolError, KeyError):  # where it stopped is its failure
            tools.open_home()
            handlers = tools.handlers()
            for tool, given in check.actions:
                handlers[tool](dict(given))
    finally:
        tools.close()
    seen = tools.observed  # the home page is opened unobserved, as in the seal
    done = len(seen)
    held = 0 < done == len(check.actions) and seen[-1].shows(check.quote)
    shown = seen[-1].gist if seen else "the home page did not open"
    took = time.monotonic() - started
    did = json.dumps(check.actions)  # what it did, said with its failure
    return JourneyResult(
        check.name,
        held,
        done,
        None if held else done,
        check.quote,
        shown,
        None,
        took,
        failed_as=did,
    )
