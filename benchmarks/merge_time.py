"""Time to merge on a project whose suite is real work: one bug issue through ``factory run
--once``, against the floor of what it cannot do without — the model's answers and the whole
suite once (production did not move: the candidate is the very tree implementation tested,
docs/testing.md) —; with the suite's and the setup's runs for that issue counted. Measured
warm (``factory run --once`` in this process, its imports and the browser's driver already
loaded by the health check before it) and cold, as cron or a CI job runs it: another issue
through a fresh ``factory run --once`` process, the interpreter's start, its imports and the
browser's start inside the clock. Then two issues in one cycle, a feature and a bug fix: the
first to land is tested once, the other, whose candidate carries it, twice (``factory
report``'s count).

The suite is ``python3 -m unittest`` over the demo's tests and a module of fixed work (about
20 s of one core: hashing, not a timer). Production is set up and its health checked before
the clock starts, as a running factory has it. The suite's time alone is its time in
implementation, where nothing else of the issue runs beside it; the journeys' time alone is
measured on production, each on a fresh app of its own, side by side, as validation runs
them: it is not in the floor."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from benchmarks import fixtures as fx
from benchmarks.cpu import core_s
from benchmarks.figures import Figure, _tmp, _verdict
from harness.artifacts import Health
from harness.browser.drivers import Drivers
from harness.browser.journeys import load_journeys
from harness.engine.records import RunRecords
from harness.git.repo import GitRepo
from harness.heal.production import production_health
from harness.sandbox.bwrap import Sandbox
from harness.services import open_services
from harness.store.db import Store
from harness.validate.evidence import fresh_app, journeys_against
from harness.validate.suite import suite_runs

LATENCY_S = 1.0  # each model answer
GOAL = 1.15
COLD_GOAL = 1.2  # a fresh process: the interpreter's start, imports and the browser's too
SUITE = fx.WORK_TEST.replace("6_000_000", "60_000_000")  # about 20 s of one core here
SETUP = "mkdir -p .cache && echo ready > .cache/setup"  # what a real setup leaves, untracked
TITLE = "Feature number 0 for the bench"
COLD = "Feature number 3 for the bench"  # the issue a fresh process merges


def _rules() -> list[dict[str, Any]]:
    """A bug, fixed with a test that fails without the fix; reviewed, and passed. Then issue
    "number 1" a feature, and "number 2" a bug, each in files of its own."""
    rules: list[dict[str, Any]] = [r for r in fx.FAST_RULES if r["output"] != "finish"]
    triage = dict(rules[0])
    call = dict(triage["turns"][0][0])
    rules[0] = {**triage, "turns": [[{**call, "input": {**call["input"], "kind": "bug"}}]]}
    feature = {**triage, "match": "number 1 ", "turns": [[call]]}
    done = [{"tool": "finish", "input": {"summary": "Fixed, with its test."}}]
    return [
        feature,
        *rules,
        {"output": "finish", "match": "number 1 ", "turns": [_writes("more"), done]},
        {"output": "finish", "match": "number 2 ", "turns": [_writes("other"), done]},
        {"output": "finish", "match": "number 3 ", "turns": [_writes("cold"), done]},
        {"output": "finish", "turns": [_writes("extra"), done]},
        _verdict("pass", 0.95),
    ]


def _writes(name: str) -> list[dict[str, Any]]:
    """Module ``name`` and its test, which fails without it."""
    test = f"import unittest\n\nfrom {name} import VALUE\n\n\nclass T(unittest.TestCase):\n"
    test += f"    def test_{name}(self):\n        self.assertEqual(VALUE, 1)\n"
    return [
        {"tool": "write_file", "input": {"path": f"{name}.py", "content": "VALUE = 1\n"}},
        {"tool": "write_file", "input": {"path": f"test_{name}.py", "content": test}},
    ]


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
    settings, drivers = services.settings, services.caches.part(Drivers, lasting=True)
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
                if not production_health(services).green:
                    raise RuntimeError("production is red in the benchmark")
                health = services.store.latest_artifact(Health, None)
                journeys_s = _journeys_alone(services)
                calls_before = len(server.received)
                started = time.monotonic()
                _run_once(repo)
                wall = time.monotonic() - started
            calls = len(server.received) - calls_before
            cold, cold_calls = _cold(services, server.received, repo)
            for title in ("Feature number 1 for the bench", "Feature number 2 for the bench"):
                services.forge.create_issue(title, "Please add it.", "owner")
            _run_once(repo, "--max-parallel", "2")  # the first to land, then the other on it
        finally:
            os.environ.pop("FACTORY_STATE_DIR", None)
    store = Store.open(state)
    suite_s, cold_suite_s = _suite_seconds(store, 1), _suite_seconds(store, 2)
    suites, chosen = suite_runs(store, 1)
    landed = [store.list_runs(limit=None, workflow="validate", issue=n) for n in (1, 2, 3, 4)]
    first, then = sorted(suite_runs(store, n)[0] for n in (3, 4))
    store.close()
    if any(not r or r[0].status != "succeeded" for r in landed) or health is None:
        raise RuntimeError("time to merge: an issue did not merge")
    model_s = calls * LATENCY_S
    floor = model_s + suite_s
    ratio = wall / floor
    cold_floor = cold_calls * LATENCY_S + cold_suite_s
    cold_ratio = cold / cold_floor
    return [
        Figure(
            "time to merge, a 20 s suite",
            f"{ratio:.2f} of its floor",
            f"≤ {GOAL}",
            GOAL / ratio,
            f"warm: one bug issue through `factory run --once` in the process that checked "
            f"production's health, {wall:.1f} s; floor {floor:.1f} s = {calls} model answers at "
            f"{LATENCY_S:.0f} s ({model_s:.0f} s) + the suite once ({suite_s:.1f} s alone); "
            f"outside it: the hold-out's journeys on the candidate and after the merge "
            f"({journeys_s:.1f} s alone), set-up copies, worktrees; production set up and "
            "checked before the clock",
        ),
        Figure(
            "time to merge cold, a 20 s suite",
            f"{cold_ratio:.2f} of its floor",
            f"≤ {COLD_GOAL}",
            COLD_GOAL / cold_ratio,
            f"as cron runs it: another issue through a fresh `factory run --once` process, "
            f"{cold:.1f} s, the interpreter's start, imports and the browser's inside the "
            f"clock (warm: {ratio:.2f}); floor {cold_floor:.1f} s = {cold_calls} model answers "
            f"+ the suite once ({cold_suite_s:.1f} s alone); production checked before the "
            f"clock; one core {core_s():.2f} s",
        ),
        Figure(
            "suite runs per merged issue",
            f"{suites}; {first} and {then}",
            "1; 1 and 2",
            min(1 / max(suites, 1), 1 / max(first, 1), 2 / max(then, 1)),
            f"as `factory report` counts them (production's health aside): the bug issue, "
            f"production still ({suites}: implementation, whose pass the candidate of the same "
            f"tree reused); then a feature and a bug fix in one cycle: the first to land "
            f"({first}), the other, whose candidate carried it ({then}); the fails-before proof "
            f"ran only the change's test: `{'`, `'.join(chosen) or 'nothing'}`",
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


def _cold(services: Any, received: list[Any], repo: Path) -> tuple[float, int]:
    """Issue ``COLD`` through a fresh ``factory run --once`` process (bytecode cached, as
    users run it), production's health checked before the clock as for the warm figure: its
    seconds and the model answers it waited for."""
    services.forge.create_issue(COLD, "Please add it.", "owner")
    if not production_health(services).green:
        raise RuntimeError("production is red in the benchmark")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    before = len(received)
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "harness", "--repo", str(repo), "run", "--once", "--json"],
        check=True,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    return time.monotonic() - started, len(received) - before


def _run_once(repo: Path, *more: str) -> None:
    from harness.cli import main

    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            main(["--repo", str(repo), "run", "--once", "--json", *more])
        except SystemExit as exc:
            if exc.code:
                raise RuntimeError(f"run --once exited {exc.code}: {out.getvalue()}") from None


def _suite_seconds(store: Store, issue: int) -> float:
    """The suite's seconds in the issue's implementation (nothing else of it runs beside it)."""
    (implemented,) = store.list_runs(limit=None, workflow="implement", issue=issue)
    return max(t.duration_s for t in RunRecords(store.steps(implemented.id)).tested())
