"""One demo run and one ``factory serve`` on it for the whole dashboard suite, and a real
Chromium driven by Playwright."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from harness.browser.chromium import LAUNCH_ARGS, find_chromium
from harness.model.base import CallRecord, Usage
from harness.store.db import Store
from tests.conftest import SCRUBBED_ENV

ANTHROPIC_CANARY = "sk-ant-serve-CANARY-5e1f0c2d9b8a7f6e"
GITHUB_CANARY = "ghp_serveCANARY0123456789abcdefABCDEF"
EVIL_TITLE = '<img src=x onerror="window.__pwned=1">Evil <b>title</b>'
EVIL_BODY = "<script>window.__pwned = 2</script> and </pre><script>window.__pwned=3</script>"
PLANTED_COST = 0.0123
ACTOR = "operator-ann"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update(
        GIT_AUTHOR_NAME="Test Maintainer",
        GIT_AUTHOR_EMAIL="maintainer@example.invalid",
        GIT_COMMITTER_NAME="Test Maintainer",
        GIT_COMMITTER_EMAIL="maintainer@example.invalid",
    )
    env.update(extra)
    return env


@dataclass(frozen=True)
class Demo:
    repo: Path
    state_dir: Path
    outcomes: dict[int, str]  # as 'factory demo' words them
    planted_run: str  # the run a priced model call and a transcript with secrets were added to
    said: tuple[str, ...] = ()  # the cycle's live line, stage by stage


# the demo, with one rule more: bug fixes wait for a person until two were approved
TRUST = "trust: {kind:bug: {start: review, earn_after: 2}}\n"


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The demo's cycle once (``factory demo``'s app, issues and scripted model, with bug
    fixes waiting for review), then a priced model call, a transcript that quotes secrets
    and an issue full of markup, added through the store the engine uses."""
    from harness.cli.demo import outcomes
    from harness.cycle import run_cycle
    from harness.demo import DemoReport, generate
    from harness.forge.local import LocalForge
    from harness.git.repo import GitRepo
    from harness.paths import workflows_dir
    from tests.factory_repo import git

    root = tmp_path_factory.mktemp("serve") / "demo"
    with pytest.MonkeyPatch.context() as mp:
        for name, value in clean_env().items():
            mp.setenv(name, value)
        for name in SCRUBBED_ENV:
            mp.delenv(name, raising=False)
        repo, state_dir, provider = generate(root)
        rules = repo / "factory_rules.md"
        rules.write_text("---\n" + TRUST + rules.read_text().removeprefix("---\n"))
        git(repo, "commit", "-qam", "Bug fixes earn trust")
        store = Store.open(state_dir)
        forge = LocalForge(store, GitRepo(repo))
        for item in yaml.safe_load((workflows_dir() / "demo" / "issues.yaml").read_text()):
            forge.create_issue(item["title"], item["body"], item["author"])
        said: list[str] = []
        result = run_cycle(repo, state_dir, provider, max_parallel=3, progress=said.append)
    report = DemoReport(root, repo, state_dir, provider)
    report.triage, report.implement, report.validate = (
        result["triage"],
        result["implement"],
        result["validate"],
    )
    planted = next(r["run_id"] for r in report.implement if r["issue"] == 1)
    try:
        usage = Usage(input_tokens=1200, output_tokens=300)
        record = CallRecord("claude-x", usage, PLANTED_COST, 1.5, "0" * 64)
        store.record_call(planted, "plan", record)
        store.insert_issue(EVIL_TITLE, EVIL_BODY, "mallory")
    finally:
        store.close()
    leak = [
        {"role": "user", "content": [{"type": "text", "text": f"key {ANTHROPIC_CANARY} here"}]},
        {"role": "assistant", "content": [{"type": "text", "text": f"token {GITHUB_CANARY}"}]},
    ]
    (state_dir / "transcripts" / planted / "leak.json").write_text(json.dumps(leak))
    return Demo(repo, state_dir, {n: o for n, o, _ in outcomes(report)}, planted, tuple(said))


@dataclass(frozen=True)
class Server:
    url: str  # the first line 'factory serve' printed
    base: str
    token: str
    process: subprocess.Popen[str]

    def request(
        self,
        method: str,
        path: str,
        cookie: str | None = None,
        body: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One raw HTTP request (the path is sent exactly as given: no normalising)."""
        parts = urlsplit(self.base)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        try:
            sent = dict(headers or {})
            if cookie:
                sent["Cookie"] = cookie
            if body is not None:
                sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
            conn.request(method, path, body=body, headers=sent)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def session(self) -> str:
        """A session cookie (``name=value``) opened with the token."""
        status, headers, _ = self.request("GET", f"/?token={self.token}")
        assert status == 303, status
        return headers["set-cookie"].split(";")[0]


@pytest.fixture(scope="package")
def server(demo: Demo) -> Iterator[Server]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "--repo", str(demo.repo), "serve", "--port", "0"],
        env=clean_env(
            FACTORY_STATE_DIR=str(demo.state_dir),
            ANTHROPIC_API_KEY=ANTHROPIC_CANARY,
            GITHUB_TOKEN=GITHUB_CANARY,
            FACTORY_ACTOR=ACTOR,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = (proc.stdout.readline() if proc.stdout else "").strip()
        assert line.startswith("http://"), proc.stderr.read() if proc.stderr else line
        base, _, token = line.partition("/?token=")
        yield Server(line, base, token, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="package")
def browser(demo: Demo) -> Iterator[object]:
    """Chromium, started after the demo's cycle (which drives browsers of its own)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=find_chromium(), args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, server: Server) -> Iterator[object]:
    """A browser tab with a session: the printed URL opened once."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        tab.goto(server.url)
        yield tab
    finally:
        context.close()
