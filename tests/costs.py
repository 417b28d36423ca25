"""What each test module costs, measured by the run itself (a pytest plugin, loaded by
``tests/conftest.py``): the CPU time of each test — its process and every process it started,
sandboxes and browsers included where the kernel lets a run count them — summed by module, with
its wall time and count of tests. At the end of the run, the ten costliest modules and the
totals; and a warning (never a failure: the suite stays free of timing) naming each module that
ran whole and spent more CPU than its recorded figure in ``module_costs.json`` allows
(``GROWTH`` times it and ``--cost-floor`` seconds more, the figure scaled by how fast one core
is now against when it was recorded: a CPU-second of a loaded machine does less work).
``--record-module-costs`` writes the run's figures there; the run's order is drawn from their
wall times (``tests/conftest.py``).

What a CPU figure includes, which the report names: with a cgroup v1 ``cpuacct`` hierarchy this
process may write to (root on most Linux hosts), each test process enters a cgroup of its own
and every process started under it is counted, in a pid namespace or as another uid too; else
``getrusage`` of the process and of the children it waited for (a command run in a pid namespace
of its own, as a sandbox is, is then left out, and the figure says so)."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import secrets
import statistics
import threading
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.cpu import core_s

COSTS = Path(__file__).parent / "module_costs.json"
GROWTH = 1.5  # a module is named when its CPU passes its recorded figure this many times over
FLOOR_S = 1.0  # ... and by this many seconds at least (a small module's noise is no growth)
_CPUACCT = Path("/sys/fs/cgroup/cpuacct")
_START = pytest.StashKey[float]()


class CpuClock:
    """The CPU seconds this process and the processes it starts have spent since it began."""

    def __init__(self) -> None:
        self.group: Path | None = None
        own = "/"
        with contextlib.suppress(OSError, ValueError):
            for line in Path("/proc/self/cgroup").read_text().splitlines():
                _, names, path = line.split(":", 2)
                own = path if "cpuacct" in names.split(",") else own
        place = _CPUACCT / own.lstrip("/")
        for old in place.glob("pytest-cpu-*"):  # a run that was killed left it
            if not Path("/proc", old.name.split("-")[2]).exists():
                with contextlib.suppress(OSError):
                    old.rmdir()
        group = place / f"pytest-cpu-{os.getpid()}-{secrets.token_hex(3)}"
        with contextlib.suppress(OSError):
            group.mkdir()
            self.group = group
            (group / "cgroup.procs").write_text(str(os.getpid()))
            self.base = self._usage()
        if self.group is None or self.base is None:
            self.close()
            self.base = self._usage()
        self.what = (
            "CPU of each test's processes and all they started (cgroup cpuacct)"
            if self.group
            else "CPU of each test's process and the children it waited for (getrusage: a "
            "sandbox's pid namespace left out)"
        )

    def _usage(self) -> float | None:
        if self.group is not None:
            with contextlib.suppress(OSError, ValueError):
                return int((self.group / "cpuacct.usage").read_text()) / 1e9
            return None
        own, children = (
            resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        )
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    def read(self) -> float:
        return (self._usage() or 0.0) - (self.base or 0.0)

    def close(self) -> None:
        """Leave the cgroup (with whatever a test left running) and remove it."""
        group, self.group = self.group, None
        if group is None:
            return
        with contextlib.suppress(OSError):
            for pid in (group / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    (group.parent / "cgroup.procs").write_text(pid)
        with contextlib.suppress(OSError):
            group.rmdir()


class CoreSpeed(threading.Thread):
    """One core's speed (``core_s``) every ``EVERY_S`` while the run lasts: their median is
    the run's (a machine's load varies from one minute to the next)."""

    EVERY_S = 20.0

    def __init__(self) -> None:
        super().__init__(name="core-speed", daemon=True)
        self.seen: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.seen.append(core_s())
            self.done.wait(self.EVERY_S)

    def median(self) -> float:
        self.done.set()
        self.seen.append(core_s())
        return round(statistics.median(self.seen), 3)


class Costs:
    """The figures of one run, gathered where every test's report arrives."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.clock = CpuClock()
        self.cpu: Counter[str] = Counter()
        self.wall: Counter[str] = Counter()
        self.tests: Counter[str] = Counter()
        self.whole_cpu = 0.0  # the run's CPU from start to end (collection and workers too)
        self.path = Path(config.getoption("--module-costs"))
        self.core_s = 0.0  # how fast one core was during the run (``CoreSpeed``)
        self.speed = CoreSpeed()
        if not hasattr(config, "workerinput"):  # where every report arrives
            self.speed.start()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        item.stash[_START] = self.clock.read()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> None:
        if call.when == "teardown" and _START in item.stash:  # the report carries it to xdist
            item.user_properties.append(("cpu_s", self.clock.read() - item.stash[_START]))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        module = report.nodeid.split("::")[0]
        self.wall[module] += report.duration
        if report.when == "teardown":
            self.tests[module] += 1
            self.cpu[module] += sum(v for k, v in report.user_properties if k == "cpu_s")

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: object, error: object) -> None:
        """An xdist worker's whole CPU, which it sent when its run ended (in a cgroup, the
        workers' are counted in this process's own)."""
        if self.clock.group is None:
            self.whole_cpu += getattr(node, "workeroutput", {}).get("cpu_s", 0.0)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        spent = self.clock.read()
        self.clock.close()
        if hasattr(self.config, "workerinput"):
            self.config.workeroutput["cpu_s"] = spent  # type: ignore[attr-defined]
            return
        self.whole_cpu += spent
        self.core_s = self.config.getoption("--core-s") or self.speed.median()
        if self.config.getoption("--record-module-costs"):
            self.record()

    def recorded(self) -> dict[str, dict[str, float]]:
        with contextlib.suppress(OSError, ValueError):
            return dict(json.loads(self.path.read_text()))
        return {}

    def record(self) -> None:
        """This run's figures for the modules it ran; the others' as they were, while they
        exist."""
        root = Path(str(self.config.rootpath))
        figures = {m: f for m, f in self.recorded().items() if (root / m).exists()}
        for module, tests in self.tests.items():
            figures[module] = {
                "cpu_s": round(self.cpu[module], 2),
                "wall_s": round(self.wall[module], 2),
                "tests": tests,
                "core_s": self.core_s,  # one core's speed in the run that measured it
            }
        self.path.write_text(json.dumps(dict(sorted(figures.items())), indent=1) + "\n")

    def grown(self) -> list[str]:
        """The modules that ran whole and spent more than their recorded CPU allows."""
        floor = float(self.config.getoption("--cost-floor"))
        lines = []
        for module, was in self.recorded().items():  # at this run's speed: a loaded core does less
            now = self.cpu.get(module)
            allowed = was["cpu_s"] * self.core_s / was.get("core_s", self.core_s)
            if now is None or self.tests[module] < was.get("tests", 0):
                continue
            if now > allowed * GROWTH and now - allowed >= floor:
                lines.append(
                    f"{module}: {now:.1f} CPU-s, recorded {was['cpu_s']:.1f} "
                    f"(x{now / max(allowed, 0.01):.1f} at this core's speed; "
                    f"{self.tests[module]} tests, recorded {was.get('tests', '?')})"
                )
        return lines

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if hasattr(self.config, "workerinput") or not self.tests:
            return
        write = terminalreporter.write_line
        terminalreporter.section("cost by module")
        write(f"({self.clock.what}; CPU-seconds, wall seconds, tests)")
        for module, spent in self.cpu.most_common(10):
            write(f"{spent:8.1f} {self.wall[module]:8.1f} {self.tests[module]:5d}  {module}")
        write(
            f"total: {sum(self.cpu.values()):.1f} CPU-s in {sum(self.tests.values())} tests of "
            f"{len(self.tests)} modules; {self.whole_cpu:.1f} CPU-s in the test processes "
            "from start to end (collection included)"
        )
        write(
            f"one core: 10 M Python additions in {self.core_s:.2f} s of CPU in this run (CPU "
            f"figures move with it: a loaded machine's CPU-second does less; {self.path.name} "
            "keeps each module's figure with the speed of the run that measured it)"
        )
        grown = self.grown()
        if grown:
            terminalreporter.section("modules that cost more than recorded", yellow=True)
            write(
                f"(over {GROWTH}x their figure in {self.path.name} and "
                f"{self.config.getoption('--cost-floor'):g} CPU-s more: "
                "a warning; --record-module-costs records this run)"
            )
            for line in grown:
                write(line, yellow=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("costs", "what each test module costs")
    group.addoption(
        "--record-module-costs",
        action="store_true",
        help="write each module's CPU and wall seconds to the record (--module-costs)",
    )
    group.addoption("--module-costs", default=str(COSTS), help="the record of modules' costs")
    group.addoption(
        "--core-s",
        type=float,
        default=0.0,
        help="one core's speed, as given instead of measured (a comparison made reproducible)",
    )
    group.addoption(
        "--cost-floor",
        type=float,
        default=FLOOR_S,
        help="the CPU-seconds a module must grow by before it is named",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(Costs(config), "module-costs")
