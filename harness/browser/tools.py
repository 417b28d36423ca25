"""The sealed validator's browser tools (SPEC §8 names) over one page of the app."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from harness.browser.chromium import BrowserSession, origin_of
from harness.errors import ToolError

TIMEOUT_MS = 5000
MAX_SNAPSHOT = 12_000


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ToolError(f"{key} must be a string")
    return value


class BrowserTools:
    def __init__(self, session: BrowserSession, base_url: str, shots_dir: Path) -> None:
        self.base_url = base_url
        self.context, self.guard = session.new_context(base_url)
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.shots_dir = shots_dir
        self.shots: list[str] = []

    def close(self) -> None:
        self.context.close()

    def _guarded(self, fn: Callable[[], str]) -> str:
        try:
            return fn()
        except PlaywrightError as exc:
            raise ToolError(str(exc).splitlines()[0][:300]) from exc

    def navigate(self, data: dict[str, Any]) -> str:
        url = urljoin(self.base_url, _text(data, "url") or "/")
        if origin_of(url) != origin_of(self.base_url):
            raise ToolError(f"{url} is not part of the app; only {self.base_url} can be visited")

        def go() -> str:
            response = self.page.goto(url, wait_until="load")
            status = response.status if response is not None else "?"
            return f"opened {self.page.url} (HTTP {status}); title: {self.page.title()!r}"

        return self._guarded(go)

    def click(self, data: dict[str, Any]) -> str:
        role, name = _text(data, "role"), _text(data, "name")
        text, selector = _text(data, "text"), _text(data, "selector")
        if role:
            target = self.page.get_by_role(role, name=name)  # type: ignore[arg-type]
        elif text:
            target = self.page.get_by_text(text)
        elif selector:
            target = self.page.locator(selector)
        else:
            raise ToolError("give role (and name), text or selector")

        def act() -> str:
            target.first.click()
            self.page.wait_for_load_state("load")
            return f"clicked; now at {self.page.url}"

        return self._guarded(act)

    def type_text(self, data: dict[str, Any]) -> str:
        label, selector, text = _text(data, "label"), _text(data, "selector"), _text(data, "text")
        if text is None:
            raise ToolError("text is required")
        if label:
            target = self.page.get_by_label(label)
        elif selector:
            target = self.page.locator(selector)
        else:
            raise ToolError("give label or selector")

        def act() -> str:
            target.first.fill(text)
            if data.get("submit"):
                target.first.press("Enter")
                self.page.wait_for_load_state("load")
            return f"typed {len(text)} characters" + (
                " and pressed Enter" if data.get("submit") else ""
            )

        return self._guarded(act)

    def press_key(self, data: dict[str, Any]) -> str:
        key = _text(data, "key")
        if not key:
            raise ToolError("key is required")

        def act() -> str:
            self.page.keyboard.press(key)
            return f"pressed {key}"

        return self._guarded(act)

    def snapshot(self, data: dict[str, Any]) -> str:
        def snap() -> str:
            tree = self.page.locator("body").aria_snapshot()
            text = f"URL: {self.page.url}\n{tree}"
            if len(text) > MAX_SNAPSHOT:
                text = text[:MAX_SNAPSHOT] + "\n[snapshot cut]"
            return text

        return self._guarded(snap)

    def screenshot(self, data: dict[str, Any]) -> str:
        self.shots_dir.mkdir(parents=True, exist_ok=True)
        path = self.shots_dir / f"validator-{len(self.shots) + 1:02d}.png"

        def shoot() -> str:
            self.page.screenshot(path=str(path), full_page=True)
            return ""

        self._guarded(shoot)
        self.shots.append(str(path))
        return f"saved screenshot {path.name}"

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], str]]:
        return {
            "browser_navigate": self.navigate,
            "browser_click": self.click,
            "browser_type": self.type_text,
            "browser_press_key": self.press_key,
            "browser_snapshot": self.snapshot,
            "browser_take_screenshot": self.screenshot,
        }
