"""Finding Chromium and driving it with Playwright: one browser per validation, isolated
contexts, and every request to another origin blocked and recorded."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import (
    Browser,
    BrowserContext,
    Playwright,
    Request,
    Route,
    sync_playwright,
)

from harness.errors import SandboxError

LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
_DEBIAN = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")


def _playwright_own() -> str | None:
    root = Path(
        os.environ.get("PLAYWRIGHT_BROWSERS_PATH", Path.home() / ".cache" / "ms-playwright")
    )
    found = sorted(root.glob("chromium-*/chrome-linux*/chrome")) if root.is_dir() else []
    return str(found[-1]) if found else None


def find_chromium() -> str:
    """``FACTORY_CHROMIUM``, else Playwright's own browser, else Debian's Chromium."""
    explicit = os.environ.get("FACTORY_CHROMIUM")
    if explicit:
        if not (Path(explicit).is_file() and os.access(explicit, os.X_OK)):
            raise SandboxError(f"FACTORY_CHROMIUM={explicit}: not an executable file")
        return explicit
    own = _playwright_own()
    if own:
        return own
    for candidate in _DEBIAN:
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    which = shutil.which("chromium")
    if which:
        return which
    raise SandboxError("no Chromium found: apt-get install chromium, or set FACTORY_CHROMIUM")


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class Origin:
    """Allows requests to one origin; aborts and records everything else."""

    def __init__(self, base_url: str) -> None:
        self.origin = origin_of(base_url)
        self.blocked: list[str] = []

    def allowed(self, url: str) -> bool:
        return origin_of(url) == self.origin or url.startswith(("data:", "about:", "blob:"))

    def observe(self, request: Request) -> None:
        if not self.allowed(request.url):
            self.blocked.append(request.url)

    def handle(self, route: Route) -> None:
        url = route.request.url
        if self.allowed(url):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")


class BrowserSession:
    """One Playwright driver and one Chromium for a validation.

    With ``netns_pid``, Chromium runs inside that process's network namespace (the app's
    sandbox), where the app is the only thing it can reach."""

    def __init__(self, netns_pid: int | None = None, executable: str | None = None) -> None:
        self.executable = executable or find_chromium()
        self.netns_pid = netns_pid
        self._pw: Playwright | None = None
        self.browser: Browser | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="factory-browser-")

    def _launcher(self) -> str:
        if self.netns_pid is None:
            return self.executable
        script = Path(self._tmp.name) / "chromium-in-netns.sh"
        script.write_text(
            "#!/bin/sh\n"
            f'exec nsenter --net=/proc/{self.netns_pid}/ns/net -- "{self.executable}" "$@"\n'
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        return str(script)

    def __enter__(self) -> BrowserSession:
        self._pw = sync_playwright().start()
        try:
            self.browser = self._pw.chromium.launch(
                executable_path=self._launcher(), args=LAUNCH_ARGS, headless=True
            )
        except Exception:
            self._pw.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self.browser is not None:
                self.browser.close()
        finally:
            if self._pw is not None:
                self._pw.stop()
            self._tmp.cleanup()

    def new_context(self, base_url: str, **options: Any) -> tuple[BrowserContext, Origin]:
        """An isolated context limited to ``base_url``'s origin."""
        assert self.browser is not None, "use BrowserSession as a context manager"
        guard = Origin(base_url)
        context = self.browser.new_context(base_url=base_url, service_workers="block", **options)
        if self.netns_pid is not None:
            # The app's network namespace already lets nothing else through; watching requests
            # (no interception round trip per request) records what was attempted.
            context.on("request", guard.observe)
        else:
            context.route("**/*", guard.handle)
        return context, guard
