"""Finding Chromium and driving it with Playwright: one confined browser per check (see
``confine.py``), isolated contexts, and every request to another origin recorded (the app's
network namespace lets none of them through)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from harness.browser.confine import Launcher
from harness.errors import SandboxError
from harness.sandbox.bwrap import CONFINED_ENV

if TYPE_CHECKING:  # Playwright is imported by what starts a browser (a command may not)
    from playwright.sync_api import Browser, BrowserContext, Playwright, Request

    from harness.browser.drivers import Drivers

T = TypeVar("T")

# what Playwright does not pass itself (it passes --headless, --no-first-run, --disable-sync,
# --disable-background-networking, --disable-component-update and --disable-dev-shm-usage)
LAUNCH_ARGS = (
    # Chromium's own sandbox builds user and PID namespaces, which the sandbox's seccomp filter
    # refuses to every confined process: the confinement around it replaces it (docs/sandbox.md);
    # Playwright passes it too unless told otherwise, but the confinement cannot rest on that
    "--no-sandbox",
    "--disable-gpu",
    # not --in-process-gpu --no-zygote: they saved an eighth of a check's browser CPU, but a
    # browser so started crashed at launch (SIGSEGV) under load, a validation failing for the
    # harness's own reason (docs/development.md)
    "--disable-quic",
)
# measured and left out (a launch alone about 0.17 CPU-s, with a page 0.45, in the noise of
# either): --enable-features=NetworkServiceInProcess, --no-zygote or --in-process-gpu alone,
# --disable-software-rasterizer, --use-gl=disabled, --disable-3d-apis, --num-raster-threads=1,
# --disable-features of VA-API, Bluetooth, the spare renderer, translation and other services
# a headless check never starts, even --single-process (a page in the browser's own process,
# no choice anyway): a launch's CPU is Chromium's processes starting, not what they are told
# to leave out
# every browser the factory starts is headless: Chromium's headless shell (what Playwright
# itself launches for headless) starts with about half the CPU of the full browser
_DEBIAN = (
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/lib/chromium/chromium",
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "chromium",  # then one on PATH
)
_PLAYWRIGHT_OWN = (
    "chromium_headless_shell-*/chrome-linux*/headless_shell",
    "chromium-*/chrome-linux*/chrome",
)


def _playwright_own() -> str | None:
    default = Path.home() / ".cache" / "ms-playwright"
    root = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH", default))
    for pattern in _PLAYWRIGHT_OWN:  # none in a folder that is not there
        found = sorted(root.glob(pattern))
        if found:
            return str(found[-1])
    return None


def find_chromium() -> str:
    """``FACTORY_CHROMIUM``, else Playwright's own browser (its headless shell first), else
    Debian's (``chromium-headless-shell`` first, then ``chromium``)."""
    explicit = os.environ.get("FACTORY_CHROMIUM")
    if explicit:
        if not (Path(explicit).is_file() and os.access(explicit, os.X_OK)):
            raise SandboxError(f"FACTORY_CHROMIUM={explicit}: not an executable file")
        return explicit
    # the first of Debian's that is an executable file
    found = _playwright_own() or next(filter(None, map(shutil.which, _DEBIAN)), None)
    if found:
        return found
    raise SandboxError("no Chromium found: apt-get install chromium, or set FACTORY_CHROMIUM")


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class Origin:
    """Records every request to another origin than the app's (none can get through)."""

    def __init__(self, base_url: str) -> None:
        self.origin = origin_of(base_url)
        self.blocked: list[str] = []

    def observe(self, request: Request) -> None:
        url = request.url
        if origin_of(url) != self.origin and not url.startswith(("data:", "about:", "blob:")):
            self.blocked.append(url)


class BrowserSession:
    """One Playwright driver and one confined Chromium for a check.

    With ``netns_pid``, Chromium runs inside that process's network namespace (the app's
    sandbox), where the app is the only thing it can reach; without, it reaches nothing.
    ``hidden``: what the confined launcher masks (see ``Launcher``). ``launcher`` replaces
    it: the sealed validator's relay to the harness's broker, which starts the confined one."""

    def __init__(
        self,
        netns_pid: int | None = None,
        launcher: str | None = None,
        hidden: tuple[Path, ...] = (),
        playwright: Playwright | None = None,
    ) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="factory-browser-")
        folder = Path(self._tmp.name)
        self._own = None if launcher else Launcher(folder, find_chromium(), netns_pid, hidden)
        self.launcher = str(self._own.script) if self._own else str(launcher)
        self._given = playwright  # a kept driver (``drivers.py``): used, never stopped here
        self._pw: Playwright | None = None
        self.browser: Browser | None = None

    def __enter__(self) -> BrowserSession:
        from playwright.sync_api import sync_playwright

        self._pw = self._given or sync_playwright().start()
        env: dict[str, str | float | bool] = {**CONFINED_ENV}  # the launcher gets no more
        try:
            self.browser = self._pw.chromium.launch(
                executable_path=self.launcher, args=LAUNCH_ARGS, headless=True, env=env
            )
        except Exception:
            self._stop_driver()
            raise
        return self

    def _stop_driver(self) -> None:
        if self._pw is not None and self._given is None:
            self._pw.stop()
        if self._own is not None:
            self._own.close()
        self._tmp.cleanup()

    def __exit__(self, *_: object) -> None:
        try:
            if self.browser is not None:
                self.browser.close()
        finally:
            self._stop_driver()

    def new_context(self, base_url: str, **options: Any) -> tuple[BrowserContext, Origin]:
        """An isolated context for ``base_url``: requests elsewhere are recorded (watched, with
        no interception round trip per request; the network lets none of them through)."""
        assert self.browser is not None, "use BrowserSession as a context manager"
        guard = Origin(base_url)
        context = self.browser.new_context(base_url=base_url, service_workers="block", **options)
        context.on("request", guard.observe)
        return context, guard


def in_browser(
    drivers: Drivers,
    fn: Callable[[BrowserSession], T],
    *,
    netns_pid: int | None,
    hidden: tuple[Path, ...],
) -> T:
    """``fn`` with a fresh confined Chromium (as ``BrowserSession``), started by one of the
    process's kept drivers and closed when ``fn`` returns."""

    def job(playwright: Playwright) -> T:
        with BrowserSession(netns_pid, hidden=hidden, playwright=playwright) as session:
            return fn(session)

    return drivers.run(job)
