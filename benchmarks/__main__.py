"""``make bench``: run every figure, print one table, write ``benchmarks/results.md``."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import figures as f
from benchmarks.egress import egress_overhead
from benchmarks.github import github_figures
from benchmarks.inputs import input_figures
from benchmarks.sandbox import command_after_many_files
from benchmarks.scale import store_figures


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


NOTE = "GitHub figures measured on their own"


def splice(text: str, rows: list[f.Figure], note: str) -> str:
    """``text`` (a results page) with the rows of the same names replaced, or added at the
    table's end, and ``note`` under the table (for figures measured on their own)."""
    lines = text.splitlines()
    start = lines.index("|---|---|---|---|---|") + 1
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    table = lines[start:end]
    for row in rows:
        line = (
            f"| {row.name} | {row.value} | {row.goal} | {row.ratio:.2f} {_mark(row)} | {row.note} |"
        )
        names = [x.split(" | ")[0] for x in table]
        if f"| {row.name}" in names:
            table[names.index(f"| {row.name}")] = line
        else:
            table.append(line)
    kind = note.split(" measured")[0] + " measured"  # the same figures' earlier note goes
    rest = [x for x in lines[end:] if not x.startswith(kind)]
    return "\n".join([*lines[:start], *table, "", note, *rest]) + "\n"


def alone(rows_of: Callable[[], list[f.Figure]], kind: str, command: str) -> int:
    """Figures measured on their own (``python -m benchmarks COMMAND``), spliced into the
    committed results with a note saying when and where."""
    started = time.monotonic()
    rows = rows_of()
    print(console_table(rows))
    note = (
        f"{kind} measured on their own {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on "
        f"{machine()}; {time.monotonic() - started:.0f} s (`python -m benchmarks {command}`)."
    )
    out = Path(__file__).parent / "results.md"
    out.write_text(splice(out.read_text(), rows, note))
    print(f"\nwritten to {out}")
    return 0


def main() -> int:
    if sys.argv[1:] == ["github"]:
        return alone(github_figures, "GitHub figures", "github")
    if sys.argv[1:] == ["inputs"]:
        return alone(input_figures, "Input figures", "inputs")
    if sys.argv[1:] == ["landing"]:
        return alone(lambda: [f.landing_throughput()], "Landing figures", "landing")
    if sys.argv[1:] == ["sandbox"]:
        return alone(lambda: [command_after_many_files()], "Sandbox figures", "sandbox")
    if sys.argv[1:] == ["egress"]:
        return alone(lambda: [egress_overhead()], "Egress figures", "egress")
    if sys.argv[1:] == ["store"]:
        return alone(store_figures, "Store figures", "store")
    reps = int(os.environ.get("BENCH_REPS", "5"))
    started = time.monotonic()
    rows: list[f.Figure] = []
    parallel, states = f.parallel_efficiency(reps)
    rows += [parallel, f.engine_overhead(states), f.cache_prefix(states), f.worktree_cost(reps)]
    rows += f.batch_triage()
    rows.append(f.rate_limit_adaptation())
    rows += github_figures()
    rows.append(f.validation_throughput(reps))
    rows.append(f.landing_throughput())
    rows.append(command_after_many_files())
    rows.append(egress_overhead(reps))
    rows += input_figures()
    rows += store_figures()
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
