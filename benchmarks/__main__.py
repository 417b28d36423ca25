"""``make bench``: run every figure, print one table, write ``benchmarks/results.md``."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import figures as f
from benchmarks.cpu import core_s
from benchmarks.egress import egress_overhead
from benchmarks.github import github_figures
from benchmarks.inputs import input_figures
from benchmarks.learned import learned_figures
from benchmarks.mcp_approve import approve_figure
from benchmarks.merge_time import merge_time
from benchmarks.sandbox import command_after_many_files
from benchmarks.scale import check_figure, health_figure, store_figures
from benchmarks.scratch import apart, scratch
from benchmarks.soak import soak_section
from benchmarks.triage_map import triage_map_figures


def machine() -> str:
    cpus = os.cpu_count()
    mem = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(meminfo.read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    python = platform.python_version()
    system = f"{platform.system()} {platform.release()}, {cpus} cores{mem}"
    return f"{system}, Python {python}; {core_speed()}"


def core_speed() -> str:
    """How fast one core of this machine is, for comparing figures made on other machines
    (CPU-bound rows move with it): the CPU time of ten million additions in a Python loop
    (``core_s``, the best of five) and of starting a git process (the mean of twenty)."""
    loops = [core_s() for _ in range(5)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(20):
        subprocess.run(["git", "--version"], capture_output=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spawn = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / 20
    return (
        f"one core: 10 M Python additions in {min(loops):.2f} s of CPU, "
        f"a git process {spawn * 1000:.1f} ms"
    )


def console_table(rows: list[f.Figure]) -> str:
    width = max(len(r.name) for r in rows)
    lines = [f"{'figure':<{width}}  {'value':>24}  {'goal':>8}  {'ratio':>6}  note"]
    for r in rows:
        lines.append(
            f"{r.name:<{width}}  {r.value:>24}  {r.goal:>8}  {r.ratio:>6.2f}  {_mark(r)}: {r.note}"
        )
    return "\n".join(lines)


def _mark(row: f.Figure) -> str:
    return "ok" if row.ratio >= 1.0 else "SHORT"


def results_markdown(rows: list[f.Figure], header: str, history: str, soak: str = "") -> str:
    table = ["| figure | value | goal | ratio | note |", "|---|---|---|---|---|"]
    table += [
        f"| {r.name} | {r.value} | {r.goal} | {r.ratio:.2f} {_mark(r)} | {r.note} |" for r in rows
    ]
    return (
        f"# Benchmark results\n\n{header}\nRatio ≥ 1.00 means the goal is met.\n\n"
        + "\n".join(table)
        + "\n\n"
        + (soak + "\n" if soak else "")
        + history
    )


def commit() -> str:
    """The commit measured, and whether the tree had changes beside it."""
    from harness.git.repo import GitRepo

    repo = GitRepo(Path(__file__).resolve().parent.parent)
    sha = repo.rev_parse("HEAD") or "no commit"
    dirty = repo.git("status", "--porcelain", "--untracked-files=no").strip()
    return sha[:12] + (" with uncommitted changes" if dirty else "")


def alone(rows_of: Callable[[], list[f.Figure]], command: str) -> int:
    """Figures measured on their own (``python -m benchmarks COMMAND``): printed only.
    ``results.md`` is written by a whole run alone, so every row of it comes from one run."""
    rows = rows_of()
    print(console_table(rows))
    print(f"\nnot written to results.md: `python -m benchmarks {command}` measures one part")
    return 0


def _parallel_rows() -> list[f.Figure]:
    parallel, implemented = f.parallel_efficiency()
    return [*parallel, f.engine_overhead(implemented)]


def _trace(reps: int = 5) -> list[f.Figure]:
    # the trace's set-up is built by a test's helpers, which a scratch copy of the harness
    # (the soak's mutants run there) does not hold
    from benchmarks.trace import trace_overhead

    return [trace_overhead(reps)]


# ``python -m benchmarks PART``: one part's figures, printed only (``alone``)
PARTS: dict[str, Callable[[], list[f.Figure]]] = {
    "github": github_figures,
    "inputs": input_figures,
    "parallel": _parallel_rows,
    "validation": lambda: [f.validation_throughput()],
    "landing": lambda: [f.landing_throughput(), f.landing_throughput(failing=1)],
    "merge": merge_time,
    "sandbox": lambda: [command_after_many_files()],
    "egress": lambda: [egress_overhead()],
    "trace": _trace,
    "store": store_figures,
    "queue": lambda: store_figures(only_queue=True),
    "triage-map": triage_map_figures,
    "check": lambda: [check_figure()],
    "health": lambda: [health_figure()],
    "approve": lambda: [approve_figure()],
    "learned": learned_figures,
}
USAGE = (
    "usage: python -m benchmarks [PART | soak [OPTIONS]]: every figure, written to "
    f"benchmarks/results.md; or one part's, printed only ({', '.join(PARTS)}); or the soak"
)


def main() -> int:
    """Every figure (no argument), one part, or the soak; anything else is one line and exit
    2 before anything is measured (a word mistyped must not start the whole run)."""
    args = sys.argv[1:]
    if args in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if args and args[0] != "soak" and (len(args) > 1 or args[0] not in PARTS):
        print(f"benchmarks: no part {' '.join(args)[:80]!r}; {USAGE}", file=sys.stderr)
        return 2
    with scratch():
        if args[:1] == ["soak"]:
            from benchmarks.soak import main as soak_main

            return soak_main(args[1:])
        return alone(PARTS[args[0]], args[0]) if args else _measured()


def _measured() -> int:
    reps = int(os.environ.get("BENCH_REPS", "5"))
    load = os.getloadavg()[0]
    started, at_start, began = time.monotonic(), machine(), datetime.now(UTC)
    rows: list[f.Figure] = []
    parallel, implemented = f.parallel_efficiency()
    rows += [*parallel, f.engine_overhead(implemented), f.cache_prefix(implemented)]
    rows += merge_time()
    rows.append(f.worktree_cost(reps))
    rows.append(f.batch_triage())
    rows += triage_map_figures()
    rows.append(f.rate_limit_adaptation())
    rows += github_figures()
    rows.append(f.validation_throughput())
    rows += learned_figures()
    rows.append(f.landing_throughput())
    rows.append(f.landing_throughput(failing=1))
    rows.append(command_after_many_files())
    rows.append(egress_overhead(reps))
    rows += _trace(reps)
    rows += input_figures()
    rows += apart(store_figures)
    rows.append(check_figure())
    rows.append(health_figure())
    rows.append(approve_figure())
    lived = soak_section(int(os.environ.get("BENCH_SOAK_DAYS", "30")))
    print(console_table(rows))
    print(lived)
    header = (
        f"Measured at commit {commit()}, from {began:%Y-%m-%d %H:%M} UTC, on {at_start}; "
        f"load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; "
        f"{reps} repetitions where noted, medians; "
        f"{time.monotonic() - started:.0f} s in all, one run: every row below comes from it."
    )
    here = Path(__file__).parent
    out = here / "results.md"
    out.write_text(results_markdown(rows, header, (here / "history.md").read_text(), lived))
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
