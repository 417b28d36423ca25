"""Shared fixtures: every test gets its own state directory and no real credentials."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import socket
import sqlite3
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.scratch import remove_worktree_folders

# what each module costs, reported at the end of the run (tests/costs.py), and each test's time
# limit in seconds of an idle machine (tests/limits.py); pytester tests them; the bytecode the
# workers import, written once before they start (tests/bytecode.py)
pytest_plugins = ["tests.costs", "tests.limits", "pytester", "tests.bytecode"]

# A test process makes and drops far more objects than a factory's (every test builds its
# world): at Python's default threshold (700 new objects) a tenth of its own CPU went to
# looking for cycles, a twentieth at this one (the young generation 10,000, each older one
# looked at every twentieth time the one below it was). What a test leaves in a cycle is
# still collected, later; the processes a test starts (a factory, a fork server) keep
# Python's default.
GC_THRESHOLD = (10_000, 20, 20)


def pytest_configure(config: pytest.Config) -> None:
    gc.set_threshold(*GC_THRESHOLD)


# what no test inherits from the machine (subprocess helpers strip it too)
SCRUBBED_ENV = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "GITHUB_TOKEN",
    "GITHUB_REPOSITORY",
    "GITHUB_API_URL",
    "FACTORY_STATE_DIR",
    "FACTORY_MARKER_KEY",
    "GITHUB_ACTIONS",
)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in SCRUBBED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FACTORY_STATE_DIR", str(tmp_path / "state"))
    # the repository secret a runner without state of its own has (tests that start from a
    # fresh state play such runners); the key-file path has tests of its own
    monkeypatch.setenv("FACTORY_MARKER_KEY", "test-marker-key-0f3c9a")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Maintainer")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "maintainer@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Maintainer")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "maintainer@example.invalid")
    yield
    for db in [*tmp_path.glob("state/state.db"), *tmp_path.glob("*/state/state.db")]:
        _every_merge_landed_a_tested_tree(db)


@pytest.fixture(autouse=True, scope="session")
def _node_compile_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Node's compile cache for the session's Playwright drivers (node, started once per
    process that drives a browser: in a test, a ``factory`` it starts, a fork of either), so
    the drivers after the first read Playwright's compiled code instead of compiling it again
    (a tenth of a driver's CPU). The sealed validator's driver, whose environment is its own,
    compiles as a maintainer's would."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("NODE_COMPILE_CACHE", str(tmp_path_factory.getbasetemp() / "node-cache"))
        yield


@pytest.fixture(autouse=True, scope="session")
def _no_worktrees_left(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The worktrees and checkout copies of every state folder the session made: they live
    outside it (on tmpfs, named after the state folder), so they go when the session ends
    rather than stay behind in ``/dev/shm``."""
    yield
    remove_worktree_folders(tmp_path_factory.getbasetemp())


def _every_merge_landed_a_tested_tree(db: Path) -> None:
    """The merge queue's invariant, checked after every test that merged anything: each
    merge the factory recorded landed exactly a tree on which, in the same run, every
    hold-out journey passed, and the tests passed: in that run, or — a result it reused —
    in the run the merge names, whose own record shows that very result (the same tree,
    set up the same way, the same command and runner image). Read-only; a state a test broke
    on purpose is skipped."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            rows = conn.execute(
                "SELECT s.run_id, s.step_id, s.outputs FROM steps s JOIN runs r "
                "ON r.id = s.run_id WHERE r.workflow = 'validate' AND s.status = 'succeeded' "
                "AND s.step_id IN ('check', 'merge') ORDER BY s.seq"
            ).fetchall()
            checked = [json.loads(raw or "{}") for _, step, raw in rows if step == "check"]
            named = {(c.get("tests") or {}).get("reused_from") for c in checked} - {None}
            ran = conn.execute(
                "SELECT run_id, outputs FROM steps WHERE status IN ('succeeded', 'failed') "
                f"AND run_id IN ({', '.join('?' * len(named))}) ORDER BY seq",
                sorted(named),
            ).fetchall()
    except sqlite3.Error:
        return
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run_id, raw in ran:  # every result the runs a check reused ran themselves
        out = json.loads(raw or "{}")
        for found in (out, out.get("tests"), out.get("tests_before")):
            if isinstance(found, dict) and found.get("decided_by") and not found.get("reused_from"):
                results.setdefault((run_id, found["decided_by"]), []).append(found)
    passed: dict[str, dict[str, str]] = {}  # run -> tree -> the run whose tests passed on it
    for run_id, step_id, raw in rows:
        out = json.loads(raw or "{}")
        if step_id == "check":
            tests = out.get("tests") or {}
            by = tests.get("reused_from") or run_id
            if by != run_id:  # a reused result: the newest of its run's own, a pass, this tree
                kept = results.get((by, tests.get("decided_by")), [])
                assert kept and kept[-1]["exit_code"] == 0 and kept[-1]["tree"] == out["tree"], (
                    f"{db}: run {run_id} reused a result of run {by} that its record lacks"
                )
            if out.get("journeys_passed") and tests.get("exit_code") == 0 and out.get("tree"):
                passed.setdefault(run_id, {})[out["tree"]] = by
        elif out.get("merge_sha"):
            landed = out.get("landed_tree")
            assert landed == out.get("tested_tree"), f"{db}: run {run_id} landed {out}"
            assert landed in passed.get(run_id, {}), (
                f"{db}: run {run_id} landed tree {landed}, on which no tests and journeys passed"
            )
            named_by = out.get("tested_by")  # None: recorded by an older version
            assert named_by in (None, passed[run_id][landed]), f"{db}: run {run_id}: {out}"


def git(cwd: Path, *args: str) -> str:
    """Run git in a test repository (tests may call git; the harness goes through harness.git)."""
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env={**os.environ}
    ).stdout


@pytest.fixture
def empty_repo(tmp_path: Path) -> Path:
    """A fresh git repository with one commit on ``main``."""
    return make_empty_repo(tmp_path)


def make_empty_repo(root: Path) -> Path:
    """A fresh git repository with one commit on ``main``, at ``root / "repo"``."""
    from tests.factory_repo import init_repo  # imported when used: it imports the harness

    repo = root / "repo"
    repo.mkdir()
    init_repo(repo)
    (repo / "README.md").write_text("# sample\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP listener on the host's loopback: (port, what it received), for network tests."""
    got: list[bytes] = []
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                got.append(conn.recv(100) or b"connected")
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield srv.getsockname()[1], got
    stop.set()
    thread.join(2)
    srv.close()


SLOW_TEST_S = 5.0  # what a slow or browser test of a module not recorded is taken to cost


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long tests first on every worker, so the run ends on short ones. ``make test`` runs
    ``pytest -n K --dist worksteal``: each worker gets an equal run of the list, in order (the
    first ``N // K`` items, then ``(N - first) // (K - 1)``, ...), and an idle worker steals
    the back half of the longest queue. The long modules (with slow or browser tests, or
    long in ``module_costs.json``, from a recorded run) are shared out by their seconds
    (recorded, else ``SLOW_TEST_S`` a slow or browser test) and put at the head of each
    worker's run, each module whole and in its own order (modules marked ``together(name)``,
    which share a costly package fixture, on one worker, so it is made once: each such module
    joins them whatever its figure, or a module that ran after the fixture was made would
    be recorded short and next run on another worker, which would make it again); the other tests
    fill the runs after them. The seconds only order the run: a stale figure costs time,
    never a result."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    count = Counter(
        i.path for i in items if i.get_closest_marker("slow") or i.get_closest_marker("browser")
    )
    costs = Path(config.getoption("--module-costs"))
    figures = json.loads(costs.read_text()) if costs.exists() else {}
    recorded = {module: f["wall_s"] for module, f in figures.items() if f["wall_s"] > 3.0}
    root = Path(str(config.rootpath))
    together = {i.path for i in items if i.get_closest_marker("together")}
    long = [  # in the order collected: every worker must compute the same order
        path
        for path in dict.fromkeys(i.path for i in items)
        if path in count or path in together or str(path.relative_to(root)) in recorded
    ]
    weight = {
        path: float(recorded.get(str(path.relative_to(root)), SLOW_TEST_S * count[path]))
        for path in long
    }
    modules: dict[Path, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.path, []).append(item)
    units: dict[str, list[Path]] = {}  # modules marked together(name) share one worker
    for path in weight:
        marker = modules[path][0].get_closest_marker("together")
        units.setdefault(str(marker.args[0]) if marker else str(path), []).append(path)
    heads: list[list[pytest.Item]] = [[] for _ in range(workers)]
    loads = [0.0] * workers
    for unit in sorted(units.values(), key=lambda u: -sum(weight[p] for p in u)):
        least = loads.index(min(loads))
        for path in unit:
            heads[least] += modules[path]
            loads[least] += weight[path]
    bounds, start = [], 0  # where each worker's run ends
    for worker in range(workers):
        start += (len(items) - start) // (workers - worker)
        bounds.append(start)
    light = [item for item in items if item.path not in weight]
    ordered: list[pytest.Item] = []
    for head, end in zip(heads, bounds, strict=True):
        ordered += head
        fill = max(0, end - len(ordered))
        ordered += light[:fill]
        light = light[fill:]
    items[:] = ordered + light
