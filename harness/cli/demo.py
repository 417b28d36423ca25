"""``factory demo``: the whole factory, offline, on a generated sample app."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from harness.cli.common import emit_json
from harness.demo import DemoReport, run_demo

_OUTCOME = {
    "accept": "accepted",
    "reject": "rejected",
    "needs_info": "needs info",
    "needs_human": "refused (needs a human)",
    "deferred": "deferred",
}


def _print(report: DemoReport) -> None:
    console = Console(width=160)
    console.print(f"[bold]factory demo[/bold] in {report.root} (model: {report.provider})")
    table = Table("issue", "outcome", "rule", "why", title="triage")
    for row in report.triage:
        table.add_row(
            f"#{row['issue']}",
            _OUTCOME.get(str(row.get("decision")), str(row.get("status"))),
            str(row.get("rule") or ""),
            str(row.get("reason") or "")[:90],
        )
    console.print(table)
    if report.implement:
        work = Table("issue", "outcome", "pull request", "branch", title="implement")
        for row in report.implement:
            outcome = "PR opened" if row["status"] == "succeeded" else f"refused: {row['reason']}"
            work.add_row(f"#{row['issue']}", outcome, str(row["pr"] or "-"), str(row["branch"]))
        console.print(work)
    console.print(
        f"evidence: runs, steps, model calls and transcripts in {report.state_dir}\n"
        f"look closer: factory --repo {report.repo} runs   |   "
        f"factory --repo {report.repo} report RUN_ID   |   "
        f"factory --repo {report.repo} issue show N"
    )


@click.command()
@click.option(
    "--dir",
    "target",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to generate the demo (new or empty directory; default: a temp dir).",
)
@click.option("--json", "as_json", is_flag=True)
def demo(target: Path | None, as_json: bool) -> None:
    """Run the factory offline on a generated notes app and show what it decided and why."""
    report = run_demo(target)
    if as_json:
        emit_json(report.to_json())
    else:
        _print(report)
