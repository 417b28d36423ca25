"""Screenshots of the dashboard's main pages at 1280×800, from a fresh ``factory demo``.

    python -m benchmarks.dashboard [--out docs/dashboard]

Runs the demo in a temporary folder, leaves one run in progress (so Now shows a live run),
starts ``factory serve --port 0`` on it and photographs Now, Queue, an issue, Runs, a run and
Trends with Playwright driving Chromium."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.browser.chromium import LAUNCH_ARGS, find_chromium
from harness.store.db import Store

_SCRUBBED = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "GITHUB_TOKEN", "FACTORY_STATE_DIR")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env.setdefault("FACTORY_ACTOR", "maintainer")
    env.update(extra)
    return env


def capture(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="factory-dashboard-") as tmp:
        res = subprocess.run(
            [sys.executable, "-m", "harness", "demo", "--dir", f"{tmp}/demo", "--json"],
            env=_env(),
            capture_output=True,
            text=True,
            check=True,
        )
        data = json.loads(res.stdout)
        repo, state = Path(data["repo"]), Path(data["state_dir"])
        refused = next(r for r in data["validate"] if r["route"] != "merge")
        store = Store.open(state)
        run = store.create_run("triage", None, {}, {})  # a run in progress, for the Now page
        store.start_step(run.id, "prescreen", {})
        server = subprocess.Popen(
            [sys.executable, "-m", "harness", "--repo", str(repo), "serve", "--port", "0"],
            env=_env(FACTORY_STATE_DIR=str(state)),
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            url = (server.stdout.readline() if server.stdout else "").strip()
            base = url.partition("/?token=")[0]
            pages = {
                "now": "/",
                "queue": "/queue",
                "issue": f"/issues/{refused['issue']}",
                "runs": "/runs",
                "run": f"/runs/{refused['run_id']}",
                "trends": "/trends",
            }
            return _shoot(url, base, pages, out)
        finally:
            server.terminate()
            server.wait(timeout=30)
            store.set_run_status(run.id, "succeeded")
            store.close()


def _shoot(url: str, base: str, pages: dict[str, str], out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(), args=LAUNCH_ARGS)
        try:
            tab = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            tab.goto(url)
            for name, path in pages.items():
                tab.goto(base + path)
                if name != "now":  # Now keeps its live stream open
                    tab.wait_for_load_state("networkidle")
                if name == "issue":
                    tab.locator("img.journey-shot").first.scroll_into_view_if_needed()
                    tab.evaluate("window.scrollBy(0, -260)")
                target = out / f"{name}.png"
                tab.screenshot(path=str(target))
                written.append(target)
        finally:
            browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/dashboard"))
    args = parser.parse_args()
    for path in capture(args.out):
        print(path)


if __name__ == "__main__":
    main()
