"""Running hold-out journeys deterministically: every step checked, the first failure kept
with what was expected, what the page showed, and a screenshot."""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page

from harness.artifacts import JourneyResult, as_read
from harness.browser.chromium import BrowserSession
from harness.browser.journeys import Journey, Step, Text

STEP_TIMEOUT_MS = 10_000  # generous: a loaded machine must not fail a good journey
# What could change a loaded page without a navigation: scripts, handler attributes, frames,
# plugins, a refresh. A page with none of them changes only when it navigates.
_RUNS_NOTHING = (
    "() => !document.querySelector("
    "'script, iframe, frame, object, embed, meta[http-equiv=\"refresh\" i]')"
    " && !Array.from(document.querySelectorAll('*')).some("
    "e => e.getAttributeNames().some(n => n.toLowerCase().startsWith('on')))"
)
QUIET_S = 1.0  # a step looks again this long before asking whether the page can still change
# The page's text as a person sees it (``innerText``: CSS's text-transform applied) and as it
# is written (the same text with text-transform off for one read: a style sheet adopted and
# dropped again, which no script of the page observes as a change of its document)
_TEXTS = (
    "() => { const body = () => document.body ? document.body.innerText : '';"
    " const shown = body(); const was = [...document.adoptedStyleSheets];"
    " const off = new CSSStyleSheet();"
    " off.replaceSync('*, *::before, *::after { text-transform: none !important }');"
    " document.adoptedStyleSheets = [...was, off]; const written = body();"
    " document.adoptedStyleSheets = was; return [shown, written]; }"
)


class StepFailure(Exception):
    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(expected)
        self.expected = expected
        self.actual = actual


def _body_text(page: Page) -> str:
    try:
        return str(page.inner_text("body", timeout=1000))
    except PlaywrightError:
        return ""


class _Waiting:
    """How long a step waits for the page to show what it looks for: the step's limit, cut
    short once the page can no longer change by itself (it runs nothing, see ``_RUNS_NOTHING``,
    and its network has been idle for half a second, so no navigation is under way). Then one
    more ``QUIET_S`` and the step fails: a journey failing on a server-rendered page fails in
    about two seconds, not after the whole limit, and a page with scripts gets every second."""

    def __init__(self, page: Page, timeout_ms: int) -> None:
        self.page = page
        self.started = time.monotonic()
        self.deadline = self.started + timeout_ms / 1000
        self.asked = False

    def left_ms(self) -> float:
        return max(1.0, (self.deadline - time.monotonic()) * 1000)

    def over(self) -> bool:
        """After a miss: whether to stop waiting (else the caller looks again in 50 ms)."""
        if time.monotonic() >= self.deadline:
            return True
        if not self.asked and time.monotonic() - self.started >= QUIET_S:
            self.asked = True
            try:  # a page with scripts may hold connections open: never wait on its network
                still = bool(self.page.evaluate(_RUNS_NOTHING))
                if still:
                    self.page.wait_for_load_state("networkidle", timeout=self.left_ms())
                    still = bool(self.page.evaluate(_RUNS_NOTHING))  # the page it may have become
            except PlaywrightError:
                still = False
            if still:
                self.deadline = min(self.deadline, time.monotonic() + QUIET_S)
        self.page.wait_for_timeout(50)
        return False


def _as_text(value: str | Text) -> Text:
    return value if isinstance(value, Text) else Text(text=value)


def _found(page: Page, wanted: Text) -> tuple[bool, str]:
    """Whether the page shows ``wanted`` — in the case CSS shows it, or as written unless the
    step asks for ``exact`` — both read as a person reads them (``as_read``: a heading
    broken by ``<br>`` reads as one line), and the page's text as shown."""
    try:
        texts = [str(t) for t in page.evaluate(_TEXTS)]
    except PlaywrightError:
        texts = [""]
    looked = texts[:1] if wanted.exact else texts
    return any(as_read(wanted.text) in as_read(t) for t in looked), texts[0]


def _wait_text(page: Page, wanted: Text, timeout_ms: int) -> None:
    waiting = _Waiting(page, timeout_ms)
    while True:
        found, body = _found(page, wanted)
        if found:
            return
        if waiting.over():
            raise StepFailure(f"text {wanted.text!r} on the page", f"page text: {body[:300]!r}")


def _present(page: Page, target: Locator, step: Step, timeout_ms: int) -> float:
    """Wait until ``target`` is on the page; the milliseconds left for the action."""
    waiting = _Waiting(page, timeout_ms)
    while target.count() == 0:
        if waiting.over():
            raise StepFailure(
                f"{describe(step)} to succeed",
                f"no element matching {describe(step)} on the page "
                f"(path {_path(page)}, page text: {_body_text(page)[:200]!r})",
            )
    return waiting.left_ms()


def _path(page: Page) -> str:
    return urlsplit(page.url).path or "/"


def run_step(page: Page, step: Step) -> None:
    """One journey step; raises ``StepFailure`` (or a Playwright error) when it fails."""
    t = STEP_TIMEOUT_MS
    if step.goto is not None:
        response = page.goto(step.goto, wait_until="load", timeout=t)
        if response is not None and response.status >= 400:
            raise StepFailure(f"{step.goto} answers", f"HTTP {response.status}")
    elif step.fill is not None:
        f = step.fill
        target = (
            page.get_by_label(f.label, exact=True) if f.label else page.locator(str(f.selector))
        )
        target.first.fill(f.value, timeout=_present(page, target, step, t))
    elif step.click is not None:
        c = step.click
        if c.role is not None:
            target = page.get_by_role(c.role, name=c.name, exact=True)  # type: ignore[arg-type]
        elif c.text is not None:
            target = page.get_by_text(c.text, exact=True)
        else:
            target = page.locator(str(c.selector))
        target.first.click(timeout=_present(page, target, step, t))
        page.wait_for_load_state("load", timeout=t)
    elif step.press is not None:
        page.keyboard.press(step.press)
        page.wait_for_load_state("load", timeout=t)
    elif step.expect_text is not None:
        _wait_text(page, _as_text(step.expect_text), t)
    elif step.expect_no_text is not None:
        page.wait_for_load_state("load", timeout=t)
        unwanted = _as_text(step.expect_no_text)
        shown, body = _found(page, unwanted)
        if shown:
            raise StepFailure(f"no text {unwanted.text!r}", f"page text: {body[:300]!r}")
    elif step.expect_url is not None:
        waiting = _Waiting(page, t)
        while _path(page) != step.expect_url:
            if waiting.over():
                raise StepFailure(f"URL path {step.expect_url}", f"URL path {_path(page)}")
    elif step.wait_for is not None:
        w = step.wait_for
        if w.text is not None:
            _wait_text(page, Text(text=w.text, exact=w.exact), w.timeout_ms)
        else:
            found = page.locator(str(w.selector))
            found.first.wait_for(timeout=_present(page, found, step, w.timeout_ms))


FINAL_TEXT_CHARS = 2000


def describe(step: Step) -> str:
    """The step as the journey file says it: ``click {role: button, name: Add}``."""
    value = getattr(step, step.action)
    if hasattr(value, "model_dump"):
        fields = {k: v for k, v in value.model_dump().items() if v is not None}
        value = "{" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}"
    return f"{step.action} {value}"


def _playwright_failure(step: Step, exc: Exception) -> str:
    first = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
    if "crashed" in first:  # the renderer was killed: its cgroup's memory, most likely
        return f"the page crashed (a browser passing its memory or task limit is stopped): {first}"
    if "Timeout" in first and step.action in ("fill", "click", "wait_for"):
        return f"no element matching {describe(step)} was usable within the time limit ({first})"
    return first


def run_journey(
    session: BrowserSession,
    base_url: str,
    journey: Journey,
    shots_dir: Path,
    success_screenshot: bool = False,
) -> JourneyResult:
    """Run ``journey`` in a fresh, origin-limited context. A failure keeps a full-page
    screenshot; a pass keeps the final page text and path (and a screenshot if asked)."""
    shots_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    context, guard = session.new_context(base_url)
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    slug = re.sub(r"[^a-z0-9]+", "-", journey.name.lower()).strip("-")[:60] or "journey"
    try:
        for number, step in enumerate(journey.steps, start=1):
            try:
                run_step(page, step)
            except (StepFailure, PlaywrightError) as exc:
                if isinstance(exc, StepFailure):
                    expected = exc.expected
                    actual = exc.actual
                else:
                    expected = f"{describe(step)} to succeed"
                    actual = _playwright_failure(step, exc)
                shot = shots_dir / f"{slug}-step{number}.png"
                with contextlib.suppress(PlaywrightError):  # a crashed page shows nothing
                    page.screenshot(path=str(shot), full_page=True)
                return JourneyResult(
                    journey.name,
                    False,
                    number,
                    number,
                    expected,
                    actual,
                    str(shot) if shot.exists() else None,
                    time.monotonic() - started,
                    list(guard.blocked),
                    failed_as=describe(step),
                )
        done_shot: Path | None = None
        if success_screenshot:
            done_shot = shots_dir / f"{slug}-done.jpeg"
            page.screenshot(path=str(done_shot), type="jpeg", quality=60)
        return JourneyResult(
            journey.name,
            True,
            len(journey.steps),
            screenshot=str(done_shot) if done_shot else None,
            duration_s=time.monotonic() - started,
            blocked_requests=list(guard.blocked),
            final_path=_path(page),
            final_text=_body_text(page)[:FINAL_TEXT_CHARS],
        )
    finally:
        context.close()


def run_journeys(
    session: BrowserSession,
    base_url: str,
    journeys: list[Journey],
    shots_dir: Path,
    success_screenshots: bool,
) -> list[JourneyResult]:
    return [run_journey(session, base_url, j, shots_dir, success_screenshots) for j in journeys]
