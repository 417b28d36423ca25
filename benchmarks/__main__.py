"""``make bench``: run every figure, print one table, write ``benchmarks/results.md``."""

from __future__ import annotations

import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import figures as f


def machine() -> str:
    cpus = os.cpu_count()
    mem = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(meminfo.read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    python = platform.python_version()
    load = f", load average {os.getloadavg()[0]:.1f} at the start"
    return f"{platform.system()} {platform.release()}, {cpus} cores{mem}, Python {python}{load}"


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


def results_markdown(rows: list[f.Figure], header: str, history: str) -> str:
    table = ["| figure | value | goal | ratio | note |", "|---|---|---|---|---|"]
    table += [
        f"| {r.name} | {r.value} | {r.goal} | {r.ratio:.2f} {_mark(r)} | {r.note} |" for r in rows
    ]
    return (
        f"# Benchmark results\n\n{header}\nRatio ≥ 1.00 means the goal is met.\n\n"
        + "\n".join(table)
        + "\n\n"
        + history
    )


def main() -> int:
    reps = int(os.environ.get("BENCH_REPS", "5"))
    started = time.monotonic()
    rows: list[f.Figure] = []
    parallel, states = f.parallel_efficiency(reps)
    rows += [parallel, f.engine_overhead(states), f.cache_prefix(states), f.worktree_cost(reps)]
    rows += f.batch_triage()
    rows.append(f.rate_limit_adaptation())
    rows.append(f.validation_throughput(reps))
    print(console_table(rows))
    header = (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; "
        f"{reps} repetitions where noted, medians; {time.monotonic() - started:.0f} s in all."
    )
    here = Path(__file__).parent
    out = here / "results.md"
    out.write_text(results_markdown(rows, header, (here / "history.md").read_text()))
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
