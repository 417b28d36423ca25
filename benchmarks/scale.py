"""The store at 50,000 runs: ``factory status``, ``runs`` and ``report``, the dashboard's main
pages and earned trust on a store made of a real demo's rows (``store_rows.py``), and what
``factory status`` and ``factory --help`` cost a fresh process.

Each figure is the median CPU time of the work in this process after one warm-up (the
imports are done; the interpreter's start is not counted), plus the CPU of the processes
it starts (git, for the governance files and the reverts on production)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from benchmarks.cpu import core_s
from benchmarks.figures import Figure
from benchmarks.store_rows import copy_rows, demo_source
from harness.engine.context import Services
from harness.git.repo import GitRepo
from harness.store.db import Store

RUNS = 50_000
REPS = 5
GOAL_MS = 100.0
STATUS_GOAL_MS = 40.0  # factory status in process: its counts by index, not by run
QUEUE_GOAL_MS = 20.0  # factory queue, and the MCP queue tool: read by CI fan-outs and agents
HELP_GOAL_S = 0.3
STATUS_GOAL_S = 0.3  # CPU of a whole ``factory status`` process
TRUST = "trust: {kind:bug: {start: review, earn_after: 2}, default: {start: review}}\n"


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def cpu_ms(work: Callable[[], object], reps: int = REPS) -> float:
    """The median CPU milliseconds of ``work`` (this process and its children), warmed up."""
    work()
    spent = []
    for _ in range(reps):
        started = _cpu()
        work()
        spent.append((_cpu() - started) * 1000)
    return statistics.median(spent)


def _cli(repo: Path, *args: str) -> Callable[[], None]:
    from harness.cli import main

    def run() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                main(["--repo", str(repo), *args])
            except SystemExit as exc:
                if exc.code:
                    raise RuntimeError(f"factory {' '.join(args)} exited {exc.code}") from None

    return run


def big_store(root: Path, runs: int = RUNS) -> tuple[Path, Path, int]:
    """The demo once (with earned trust configured on production afterwards, so it is
    counted), its rows copied into a fresh state until it holds ``runs`` runs, spread over
    the last 29 days (every one inside the Autonomy Index's window: the worst case)."""
    source = demo_source(root)
    rules = source.repo / "factory_rules.md"
    rules.write_text("---\n" + TRUST + rules.read_text().removeprefix("---\n"))
    GitRepo(source.repo).commit_all("Earned trust for every kind")
    demo = Store.open(source.state_dir)
    per_copy = sum(demo.run_counts().values())
    demo.close()
    state = root / "big-state"
    store = Store.open(state)
    copies = -(-runs // per_copy)
    copy_rows(source.state_dir / "state.db", store, copies, 29 * 86_400)
    total = sum(store.run_counts().values())
    store.close()
    return source.repo, state, total


def _figure(name: str, ms: float, note: str, goal_ms: float = GOAL_MS) -> Figure:
    return Figure(name, f"{ms:.1f} ms", f"≤ {goal_ms:.0f} ms", goal_ms / max(ms, 0.01), note)


def help_seconds(reps: int = 9) -> tuple[float, float]:
    """Median wall and CPU seconds of ``factory --help`` in a fresh interpreter."""
    walls, cpus = [], []
    for _ in range(reps):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "harness", "--help"],
            check=True,
            stdout=subprocess.DEVNULL,
            env=_cached(),
        )
        walls.append(time.monotonic() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def store_figures(only_queue: bool = False) -> list[Figure]:
    """The rows of ``python -m benchmarks store``; ``only_queue``: the queue's alone
    (``python -m benchmarks queue``)."""
    from harness.reports.issues import issue_page, queue_view
    from harness.reports.runs import RunFilters, runs_page
    from harness.reports.status import trends
    from harness.review.trust import configured_states
    from harness.serve.app import now_status
    from harness.services import open_services

    root = Path(tempfile.mkdtemp(prefix="factory-bench-scale-"))
    repo, state, total = big_store(root)
    os.environ["FACTORY_STATE_DIR"] = str(state)
    try:
        services = open_services(repo, state)
        validated = services.store.list_runs(limit=1, workflow="validate")[0]
        issue = validated.issue or 1
        at = f"at {total:,} runs"
        if only_queue:
            return queue_figures(repo, state, services, at)
        rows = [
            _figure(
                f"status {at}",
                cpu_ms(_cli(repo, "status", "--json")),
                f"factory status --json in process, git included; one core {core_s():.2f} s",
                STATUS_GOAL_MS,
            ),
            _figure(f"runs {at}", cpu_ms(_cli(repo, "runs", "--json")), "factory runs --json"),
            _figure(
                f"report {at}",
                cpu_ms(_cli(repo, "report", "--json", validated.id)),
                "factory report --json of the newest validate run",
            ),
        ]
        pages: dict[str, Callable[[], object]] = {
            "Now": lambda: now_status(services),
            "Queue": lambda: queue_view(services, None, 1),
            "Runs": lambda: runs_page(
                services.store, RunFilters(None, None, None, None, 50), services.clock()
            ),
            "Trends": lambda: (trends(services), now_status(services)),
            "issue": lambda: issue_page(services, issue),
        }
        for page, view in pages.items():
            rows.append(_figure(f"dashboard {page} {at}", cpu_ms(view), "what the page reads"))
        rows.append(
            _figure(
                f"earned trust {at}",
                cpu_ms(lambda: configured_states(services.store, services.settings)),
                TRUST.strip(),
            )
        )
        rows += queue_figures(repo, state, services, at)
    finally:
        os.environ.pop("FACTORY_STATE_DIR", None)
    wall, cpu = help_seconds()
    whole = process_cpu(
        ["--repo", str(repo), "status", "--json"], {"FACTORY_STATE_DIR": str(state)}
    )
    rows += [
        Figure(
            f"factory status, a whole process, {at}",
            f"{whole:.3f} s CPU",
            f"≤ {STATUS_GOAL_S} s",
            STATUS_GOAL_S / max(whole, 0.001),
            "median of 9 fresh processes, their CPU (interpreter, imports, work), bytecode "
            "cached as users run it",
        ),
        Figure(
            "factory --help",
            f"{wall:.3f} s",
            f"≤ {HELP_GOAL_S} s",
            HELP_GOAL_S / max(wall, 0.001),
            f"median of 9 fresh processes, wall; {cpu:.3f} s CPU",
        ),
    ]
    return rows


def queue_figures(repo: Path, state: Path, services: Services, at: str) -> list[Figure]:
    """``factory queue --json`` and the MCP ``queue`` tool with a tenth of the open issues
    accepted by triage (ready), as a backlog has them. The tool through the handler the
    server runs per call (``MCPServer.call_tool``: the SDK's argument check, the process's
    services, ``ready_to_implement``, the answer's content), on one event loop per call."""
    import anyio

    from harness.cli.common import Target
    from harness.cli.mcp import server
    from harness.cli.mcp_face import Face
    from harness.cycle import ready_to_implement
    from harness.forge.base import Label

    open_issues = services.store.issues("open")
    for accepted in open_issues[::10]:
        services.store.change_labels(accepted.number, [Label.ACCEPTED], list(accepted.labels))
    ready = len(ready_to_implement(services))
    opened = f"{len(open_issues):,} open issues, {ready:,} of them ready"
    queue_ms = cpu_ms(_cli(repo, "queue", "--json"))
    whole = process_cpu(["--repo", str(repo), "queue", "--json"], {"FACTORY_STATE_DIR": str(state)})
    bare = process_cpu(["--help"], {})
    note = (
        f"in process; {opened}; a whole process {whole:.3f} s CPU, {bare:.3f} s of it the "
        "interpreter's start and the command line's imports (`factory --help`), the rest the "
        "queue's own imports and this work (medians of 9 fresh processes, bytecode cached)"
    )
    app = server(Face(Target(repo, state, None, None)))
    tool_ms = cpu_ms(lambda: anyio.run(app.call_tool, "queue", {}))
    answered = f"the `queue` tool's handler as the server runs it per call, in process; {opened}"
    return [
        _figure(f"queue --json {at}", queue_ms, note, QUEUE_GOAL_MS),
        _figure(f"MCP queue {at}", tool_ms, answered, QUEUE_GOAL_MS),
    ]


def process_cpu(args: list[str], env: dict[str, str], reps: int = 9) -> float:
    """Median CPU seconds of ``factory ARGS`` in a fresh interpreter, bytecode cached."""
    cpus = []
    for _ in range(reps):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [sys.executable, "-m", "harness", *args],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**_cached(), **env},
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(cpus)


def _cached() -> dict[str, str]:
    """This environment with bytecode caching on, as users run the factory (a shell may set
    ``PYTHONDONTWRITEBYTECODE``: every process would compile its modules again)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


CHECK_GOAL_S = 1.0  # CPU of a whole ``factory check`` process on a small project
HEALTH_GOAL_S = 0.7  # CPU of a whole ``factory health`` process, production known green
HEAVY = ("playwright", "anthropic")  # what a health that checks nothing never imports


@contextlib.contextmanager
def _demo_without_a_key(prefix: str) -> Iterator[tuple[Path, Path]]:
    """The demo's repository and state as `make demo` makes them, in a folder of their own,
    with no ``ANTHROPIC_`` variable: with a key an earlier section's stand-in left in the
    environment, the demo would name the anthropic provider and a command would list the
    models of a server that is gone (the SDK's import and its retries: about 3 s of CPU)."""
    from harness.demo import generate

    saved = {key: os.environ.pop(key) for key in list(os.environ) if key.startswith("ANTHROPIC_")}
    try:
        with tempfile.TemporaryDirectory(prefix=prefix) as root:
            repo, state, _ = generate(Path(root))
            yield repo, state
    finally:
        os.environ.update(saved)


def health_figure() -> Figure:
    """``factory health`` as cron runs it on the demo's notes app with the ``anthropic``
    provider and no key, production checked green once before (a process of its own) and
    unchanged since: a whole process's CPU, bytecode cached, and the heavy packages one such
    process imported (none: it reads the store)."""
    with _demo_without_a_key("bench-health-") as (repo, state):
        config = repo / "factory.yaml"
        config.write_text(re.sub(r"(?m)^provider:(\n  .*)*", _ANTHROPIC, config.read_text()))
        GitRepo(repo).commit_all("the Anthropic provider, no key")
        env = {"FACTORY_STATE_DIR": str(state)}
        args = ["--repo", str(repo), "health", "--json"]
        process_cpu(args, env, reps=1)  # checked: green
        spent = process_cpu(args, env)
        probe = (
            "import sys\nfrom harness.cli import main\ntry:\n"
            f"    main({args!r})\nexcept SystemExit:\n    pass\n"
            f"print(*sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}))"
        )
        imported = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            check=True,
            env={**_cached(), **env},
        ).stdout.splitlines()[-1]
    return Figure(
        "factory health, a whole process, green and unchanged, no key",
        f"{spent:.3f} s CPU",
        f"≤ {HEALTH_GOAL_S} s",
        HEALTH_GOAL_S / max(spent, 0.001),
        f"median of 9 fresh processes, bytecode cached; one core {core_s():.2f} s; of "
        f"{', '.join(HEAVY)} it imported: {imported.strip() or 'none'}",
    )


_ANTHROPIC = "provider:\n  type: anthropic"


def check_figure() -> Figure:
    """``factory check`` on the demo's notes app (a small project: four governance files,
    one journey), a whole process as a maintainer runs it, bytecode cached: what it costs
    to validate with no model key, no overrides and the scripted provider."""
    with _demo_without_a_key("bench-check-") as (repo, state):
        spent = process_cpu(["--repo", str(repo), "check"], {"FACTORY_STATE_DIR": str(state)})
    return Figure(
        "factory check, a whole process, the demo's repository",
        f"{spent:.3f} s CPU",
        f"≤ {CHECK_GOAL_S} s",
        CHECK_GOAL_S / max(spent, 0.001),
        "median of 9 fresh processes, their CPU (interpreter, imports, work), bytecode "
        "cached as users run it",
    )
