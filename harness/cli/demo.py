"""``factory demo``: the whole factory, offline, on a generated sample app."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from harness.cli.common import PathText, emit_json, json_option
from harness.cli.live import live_line
from harness.paths import shipped_yaml

if TYPE_CHECKING:
    from harness.demo import DemoReport


def outcomes(report: DemoReport) -> list[tuple[int, str, str]]:
    """(issue, outcome, why) — the final word on every issue of the demo: the route it took
    and the reason the code gave for it (worded as ``workflows/report/demo.yaml`` says)."""
    words = shipped_yaml("report", "demo.yaml")
    final: dict[int, tuple[str, str]] = {}
    for row in report.triage:
        decision = str(row.get("decision"))
        if decision != "accept":
            why = f"route triage {decision}: {row.get('rule')}: {row.get('reason')}"
            final[row["issue"]] = (words["triage"].get(decision, decision), why)
    for built in report.implement:
        if built["status"] != "succeeded":
            why = f"route implement {built['status']}: {built.get('reason')}"
            final[built["issue"]] = ("refused at implementation", why)
    for checked in report.validate:
        merged = checked.get("merge_sha")
        route = checked.get("route")
        if merged and not checked.get("reverted"):
            why = f"route merge: {checked.get('reason')}; merge {merged[:12]} on main"
            final[checked["issue"]] = ("MERGED", why)
        elif checked.get("reverted"):
            final[checked["issue"]] = (
                "merged, then reverted",
                "smoke journeys failed on production",
            )
        else:
            why = f"route {route}: {checked.get('reason')}" if route else str(checked.get("reason"))
            final[checked["issue"]] = (words["routes"].get(route, "refused at validation"), why)
    return [(n, *final[n]) for n in sorted(final)]


def print_report(report: DemoReport) -> None:
    """The table ``factory demo`` prints: each issue's outcome and why, and the evidence."""
    from harness.cli.tables import print_table

    click.echo(f"factory demo in {report.dir} (model: {report.provider})")
    rows = [(f"#{number}", outcome, why) for number, outcome, why in outcomes(report)]
    print_table("what the factory did", ("issue", "outcome", "why"), rows)
    click.echo(
        f"evidence (runs, steps, model calls, transcripts, screenshots): {report.state_dir}\n"
        f"look closer: factory --repo {report.repo} runs | report RUN_ID | issue show N"
    )


@click.command()
@click.option(
    "--dir",
    "target",
    type=PathText(file_okay=False, path_type=Path),
    help="Where to generate the demo (new or empty directory; default: a temp dir).",
)
@json_option("Print the demo's outcome as JSON.")
def demo(target: Path | None, as_json: bool) -> None:
    """Run the factory offline on a generated notes app and show what it decided and why."""
    from harness.demo import run_demo

    with live_line("factory demo", quiet=as_json) as say:
        report = run_demo(target, say)
    if as_json:
        emit_json({**vars(report), "outcomes": outcomes(report)})
    else:
        print_report(report)
