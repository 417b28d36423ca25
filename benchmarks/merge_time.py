"""Time to merge on a project whose suite is real work: one bug issue through ``factory run
--once``, against the floor of what it must wait for (the model's answers, the whole suite
twice — implementation and candidate —, and the hold-out's journeys on the candidate and on
production after the merge); with the suite's and the setup's runs for that issue counted.

The suite is ``python3 -m unittest`` over the demo's tests and a module of fixed work (about
20 s of one core: hashing, not a timer). Production is set up and its health checked before
the clock starts, as a running factory has it. The suite's time alone is its time in
implementation, where nothing else of the issue runs beside it; the journeys' time alone is
measured on production, each on a fresh app of its own, side by side, as validation runs
them."""

from __future__ import annotations

import contextlib
import io
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from benchmarks import fixtures as fx
from benchmarks.figures import Figure, _tmp, _verdict
from harness.artifacts import Health, RunRecords
from harness.browser.journeys import load_journeys
from harness.cycle import production_health
from harness.git.repo import GitRepo
from harness.sandbox.bwrap import Sandbox
from harness.services import open_services
from harness.store.db import Store
from harness.validate.evidence import fresh_app, journeys_against
from harness.validate.suite import suite_runs

LATENCY_S = 1.0  # each model answer
GOAL = 1.3
SUITE = fx.WORK_TEST.replace("6_000_000", "60_000_000")  # about 20 s of one core here
SETUP = "mkdir -p .cache && echo ready > .cache/setup"  # what a real setup leaves, untracked
TITLE = "Feature number 0 for the bench"


def _rules() -> list[dict[str, Any]]:
    """A bug, fixed with a test that fails without the fix; reviewed, and passed."""
    rules: list[dict[str, Any]] = [r for r in fx.FAST_RULES if r["output"] != "finish"]
    triage = dict(rules[0])
    call = dict(triage["turns"][0][0])
    call["input"] = {**call["input"], "kind": "bug"}
    rules[0] = {**triage, "turns": [[call]]}
    test = "import unittest\n\nfrom extra import EXTRA\n\n\nclass T(unittest.TestCase):\n"
    test += "    def test_extra(self):\n        self.assertEqual(EXTRA, 1)\n"
    writes = [
        {"tool": "write_file", "input": {"path": "extra.py", "content": "EXTRA = 1\n"}},
        {"tool": "write_file", "input": {"path": "test_extra.py", "content": test}},
    ]
    done = [{"tool": "finish", "input": {"summary": "Fixed, with its test."}}]
    return [*rules, {"output": "finish", "turns": [writes, done]}, _verdict("pass", 0.95)]


class _Counted:
    """How many times a sandboxed command was ``command`` (setup), while installed."""

    def __init__(self, command: str) -> None:
        self.command, self.runs, self._real = command, 0, Sandbox.run

    def __enter__(self) -> _Counted:
        counter, real = self, self._real

        def run(box: Sandbox, command: str, *, timeout_s: float | None = None) -> Any:
            counter.runs += command == counter.command
            return real(box, command, timeout_s=timeout_s)

        Sandbox.run = run  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        Sandbox.run = self._real  # type: ignore[method-assign]


def _journeys_alone(services: Any) -> float:
    """Seconds for the hold-out's journeys on production, each on a fresh app, side by side."""
    settings, drivers = services.settings, services.caches.drivers()
    journeys = load_journeys(settings.holdout_dir)

    def check(i: int) -> None:
        with fresh_app(settings, settings.root, f"bench-alone-{i}") as app:
            found = journeys_against(settings, drivers, app, [journeys[i]], _tmp())
        assert all(r.passed for r in found), found

    check(0)  # warm: the browser's driver
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(journeys)) as pool:
        list(pool.map(check, range(len(journeys))))
    return time.monotonic() - started


def merge_time() -> list[Figure]:
    root = _tmp()
    with fx.standin(_rules(), root, latency_s=LATENCY_S) as server:
        repo, state = fx.notes_repo(root, 1, test=fx.REAL_TESTS)
        (repo / "test_work.py").write_text(SUITE)
        config = yaml.safe_load((repo / "factory.yaml").read_text())
        config["commands"].update(setup=SETUP, test_timeout_s=900)
        config["network"] = {"allow": []}
        (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        GitRepo(repo).commit_all("a suite of real work, and a setup")
        services = open_services(repo, state)
        os.environ["FACTORY_STATE_DIR"] = str(state)
        try:
            with _Counted(SETUP) as setups:
                if not production_health(services)["green"]:
                    raise RuntimeError("production is red in the benchmark")
                health = services.store.latest_artifact(Health, None)
                journeys_s = _journeys_alone(services)
                calls_before = len(server.received)
                started = time.monotonic()
                _run_once(repo)
                wall = time.monotonic() - started
            calls = len(server.received) - calls_before
        finally:
            os.environ.pop("FACTORY_STATE_DIR", None)
    store = Store.open(state)
    suite_s = _suite_seconds(store)
    suites, chosen = suite_runs(store, 1)
    landed = store.list_runs(workflow="validate", issue=1)
    store.close()
    if not landed or landed[0].status != "succeeded" or health is None:
        raise RuntimeError("time to merge: the issue did not merge")
    model_s = calls * LATENCY_S
    floor = model_s + 2 * suite_s + 2 * journeys_s
    ratio = wall / floor
    return [
        Figure(
            "time to merge, a 20 s suite",
            f"{ratio:.2f} of its floor",
            f"≤ {GOAL}",
            GOAL / ratio,
            f"one bug issue through `factory run --once`, {wall:.1f} s; floor {floor:.1f} s: "
            f"{calls} model answers at {LATENCY_S:.0f} s, the suite twice ({suite_s:.1f} s "
            f"alone), the hold-out's journeys on the candidate and after the merge "
            f"({journeys_s:.1f} s alone); production set up and checked before the clock",
        ),
        Figure(
            "suite runs per merged issue",
            str(suites),
            "≤ 2",
            2 / max(suites, 1),
            f"the same issue, as `factory report` counts them (implementation, candidate; "
            f"production's health aside); the fails-before proof ran only the change's test: "
            f"`{'`, `'.join(chosen) or 'nothing'}`",
        ),
        Figure(
            "setup runs per issue",
            str(setups.runs),
            "≤ 2",
            2 / max(setups.runs, 1),
            "`commands.setup` run for the same issue from a fresh state, production's health "
            "included: implementation, the candidate and the smoke run copied the set-up tree",
        ),
    ]


def _run_once(repo: Path) -> None:
    from harness.cli import main

    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            main(["--repo", str(repo), "run", "--once", "--json"])
        except SystemExit as exc:
            if exc.code:
                raise RuntimeError(f"run --once exited {exc.code}: {out.getvalue()}") from None


def _suite_seconds(store: Store) -> float:
    """The suite's seconds in implementation (nothing else of the issue runs beside it)."""
    (implemented,) = store.list_runs(workflow="implement", issue=1)
    return max(t.duration_s for t in RunRecords(store.steps(implemented.id)).tested())
