"""One demo run and one ``factory serve`` on it for the whole dashboard suite, and a real
Chromium driven by Playwright. The demo is the worker's one ``factory demo``
(``tests/store/demo_run.py``), which ``tests/test_demo.py`` and the store's scale tests read
too: every module that uses it is marked ``together("demo-cycle")``."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from harness.browser.chromium import LAUNCH_ARGS, find_chromium
from harness.model.base import CallRecord, Usage
from harness.store.db import Store
from tests.cli_helpers import Spawned, spawn
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
    waiting: int  # the bug fix that waits for review (trust not earned yet)
    said: tuple[str, ...] = ()  # the live line of the cycle it went through, stage by stage
    # what the store says was spent, the planted call among it (a scripted answer is priced as
    # its model prices the tokens): the run's, its plan step's and issue 1's
    spent: tuple[float, float, float] = (0.0, 0.0, 0.0)


# the demo, with one rule more: bug fixes wait for a person until two were approved
TRUST = "trust: {kind:bug: {start: review, earn_after: 2}}\n"
# a bug fix filed once that rule is in: the cycle after the demo's leaves it waiting for review
WAITING_TITLE = "Fix the gamma helper"


def _waiting_fix() -> list[dict[str, Any]]:
    """The scripted answers for the bug fix ``WAITING_TITLE``: triage accepts it as a bug, the
    implementer adds a helper with its test (planner, reviewer and validator answer as they do
    for the demo's issues)."""
    triage = {
        "decision": "accept",
        "priority": "p2",
        "kind": "bug",
        "rule": "mission.md: Capabilities",
        "reason": "A small fix with its test.",
        "acceptance_criteria": ["The home page still lists the notes."],
    }
    test = (
        "import unittest\n\nfrom gamma import gamma\n\n\n"
        "class T(unittest.TestCase):\n    def test_gamma(self):\n"
        "        self.assertEqual(gamma(), 'gamma')\n"
    )
    files = {"gamma.py": "def gamma():\n    return 'gamma'\n", "test_gamma.py": test}
    return [
        {
            "output": "submit_triage",
            "match": WAITING_TITLE,
            "turns": [[{"tool": "submit_triage", "input": triage}]],
        },
        {
            "output": "finish",
            "match": WAITING_TITLE,
            "turns": [
                [
                    {"tool": "write_file", "input": {"path": path, "content": content}}
                    for path, content in files.items()
                ],
                [{"tool": "finish", "input": {"summary": "gamma with a test."}}],
            ],
        },
    ]


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The worker's one ``factory demo`` (``tests/store/demo_run.py``: its app, issues and
    scripted model), taken further in place: bug fixes then wait for review, and a bug fix
    filed after that goes through a cycle of its own (the hold-out's journeys, its validator
    and analysers standing in, its tests real) and waits; then a priced model call, a
    transcript that quotes secrets and an issue full of markup, added through the store the
    engine uses."""
    from harness.cli.demo import outcomes
    from harness.cycle import run_cycle
    from harness.demo import DemoReport
    from harness.forge.local import LocalForge
    from harness.git.repo import GitRepo
    from tests.checks_passed import analysers_find_nothing
    from tests.factory_repo import git
    from tests.store.demo_run import demo_run
    from tests.validate.conftest import journeys_pass, validators_pass

    run = demo_run(tmp_path_factory)
    assert run.code == 0, run.err
    shown = run.json()
    repo, state_dir = Path(shown["repo"]), Path(shown["state_dir"])
    with pytest.MonkeyPatch.context() as mp:
        for name, value in clean_env().items():
            mp.setenv(name, value)
        for name in SCRUBBED_ENV:
            mp.delenv(name, raising=False)
        rules = repo / "factory_rules.md"
        rules.write_text("---\n" + TRUST + rules.read_text().removeprefix("---\n"))
        git(repo, "commit", "-qam", "Bug fixes earn trust")
        script = Path(yaml.safe_load((repo / "factory.yaml").read_text())["provider"]["script"])
        script.write_text(yaml.safe_dump(_waiting_fix() + yaml.safe_load(script.read_text())))
        store = Store.open(state_dir)
        fix = LocalForge(store, GitRepo(repo)).create_issue(WAITING_TITLE, "Please.", "alice")
        # production moved (the demo's merges, the rule): its health is checked again; it and
        # the bug fix's candidate run their hold-out journeys and learned checks, the fix's
        # sealed validator and its security gate's analysers as stand-ins passed: no page
        # reads them (the demo's own ran for real, its issue 5 the one whose journey failed);
        # the fix's tests and gates, the landing's keeping of that verdict, are real
        journeys_pass(mp)
        validators_pass(mp, issues=(fix.number,))
        analysers_find_nothing(mp)
        said: list[str] = []
        result = run_cycle(repo, state_dir, shown["provider"], max_parallel=3, progress=said.append)
    report = DemoReport(run.root, repo, state_dir, shown["provider"])
    report.triage = shown["triage"] + result["triage"]
    report.implement = shown["implement"] + result["implement"]
    report.validate = shown["validate"] + result["validate"]
    planted = next(r["run_id"] for r in report.implement if r["issue"] == 1)
    waiting = next(r["issue"] for r in result["triage"])
    try:
        usage = Usage(input_tokens=1200, output_tokens=300)
        record = CallRecord("claude-x", usage, PLANTED_COST, 1.5, "0" * 64)
        store.record_call(planted, "plan", record)
        store.insert_issue(EVIL_TITLE, EVIL_BODY, "mallory")
        plan = sum(c["cost_usd"] for c in store.calls(planted) if c["step_id"] == "plan")
        spent = (store.spend(run_id=planted), plan, store.spend(issue=1))
    finally:
        store.close()
    leak = [
        {"role": "user", "content": [{"type": "text", "text": f"key {ANTHROPIC_CANARY} here"}]},
        {"role": "assistant", "content": [{"type": "text", "text": f"token {GITHUB_CANARY}"}]},
    ]
    (state_dir / "transcripts" / planted / "leak.json").write_text(json.dumps(leak))
    return Demo(
        repo,
        state_dir,
        {n: o for n, o, _ in outcomes(report)},
        planted,
        waiting,
        tuple(said),
        spent,
    )


@dataclass(frozen=True)
class Server:
    url: str  # the first line 'factory serve' printed
    base: str
    token: str
    process: Spawned  # 'factory serve', forked (``tests/cli_helpers.py``)

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


def _checks_pass() -> None:
    """In the spawned ``factory serve``, for the rest of its life: the hold-out's journeys and
    learned checks of the landing an approval starts (the rebuilt candidate's and the smoke
    run's after the merge) stand in as passed; its tests, merge and records are real. No page
    or test reads their results: the validation they decide (issue 5's journey failing, its
    screenshot) is the demo's own, run in Chromium."""
    from tests.validate.conftest import journeys_pass

    journeys_pass(pytest.MonkeyPatch())


@pytest.fixture(scope="package")
def server(demo: Demo) -> Iterator[Server]:
    env = clean_env(
        FACTORY_STATE_DIR=str(demo.state_dir),
        ANTHROPIC_API_KEY=ANTHROPIC_CANARY,
        GITHUB_TOKEN=GITHUB_CANARY,
        FACTORY_ACTOR=ACTOR,
    )
    proc = spawn(demo.repo, env, "serve", "--port", "0", before=_checks_pass)
    try:
        deadline = time.monotonic() + 300
        while "\n" not in proc.said()[0] and proc.poll() is None:
            assert time.monotonic() < deadline, proc.said()
            time.sleep(0.05)
        line = proc.said()[0].partition("\n")[0].strip()
        assert line.startswith("http://"), proc.said()
        base, _, token = line.partition("/?token=")
        yield Server(line, base, token, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
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


@pytest.fixture(scope="package")
def _context(browser) -> Iterator[object]:
    """One browser context for the package's tabs: a context of its own per test started a
    renderer of its own per test (as much CPU as the test's own work)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(_context, server: Server) -> object:
    """A browser tab with a session: the printed URL opened, which every test begins with (a
    fresh document, and a session of its own: the cookie the token opens replaces the last
    one). The tab is the package's one while it stays open."""
    tabs = _context.pages
    tab = tabs[0] if tabs else _context.new_page()
    tab.set_default_timeout(15_000)
    tab.set_default_navigation_timeout(15_000)  # whatever the last test set
    tab.goto(server.url)
    return tab
