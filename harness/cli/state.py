"""State commands: ``status``, ``runs``, ``report``, and the kill switch ``stop`` / ``resume``."""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING

import click

from harness.cli.common import (
    Target,
    echo_report,
    emit_json,
    json_option,
    target_of,
)
from harness.errors import terminal_safe

if TYPE_CHECKING:
    from harness.reports.report import RunReport
    from harness.reports.status import Status
    from harness.store.db import Store


@click.command()
@click.option(
    "--limit",
    type=click.IntRange(1, 1_000_000),
    default=50,
    show_default=True,
    help="How many runs, newest first.",
)
@click.option("--all", "every", is_flag=True, help="Every run (no --limit).")
@json_option("Print the runs as a JSON array.")
@click.pass_context
def runs(ctx: click.Context, limit: int, every: bool, as_json: bool) -> None:
    """Run history: workflow, issue, status, cost and tokens, newest first; how many older
    runs were left out is said on standard error."""
    from harness.reports.runs import run_lines

    store = target_of(ctx).store()
    rows = run_lines(store, store.list_runs(limit=None if every else limit), time.time())
    if as_json:
        emit_json(rows)
    else:
        from harness.cli.tables import print_table  # rich: for the table alone

        print_table(
            "runs",
            (
                "id",
                "workflow",
                "issue",
                "outcome",
                "started (UTC)",
                "took",
                "cost",
                "tokens in/out",
            ),
            [row.cells() for row in rows],
        )
    if more := sum(store.run_counts().values()) - len(rows):
        click.echo(f"{more} older run(s) not shown: --limit N or --all shows them", err=True)


@click.command()
@json_option("Print the state as a JSON object.")
@click.option(
    "--window-days",
    type=click.IntRange(1, 3650),
    default=30,
    show_default=True,
    help="The Autonomy Index's window.",
)
@click.pass_context
def status(ctx: click.Context, as_json: bool, window_days: int) -> None:
    """The kill switch, runs by status, today's spend, earned trust and the Autonomy Index."""
    target = target_of(ctx)
    found = status_of(target, target.store(), window_days)
    if as_json:
        emit_json(found)
    else:
        echo_report("status.txt.j2", s=found)


def status_of(target: Target, store: Store, window_days: int) -> Status:
    """How the factory stands (``factory status``, MCP's ``status``): earned trust read from
    the rules as committed, with no mission."""
    from harness.reports.status import status

    settings = partial(target.settings, sections=False)
    return status(store, settings, time.time(), window_days)


@click.command()
@click.argument("run_id")
@json_option("Print the run and its steps as JSON.")
@click.pass_context
def report(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """One run: its steps, timings, model calls, costs and evidence."""
    target = target_of(ctx)
    found = report_of(target, target.store(), run_id)
    if as_json:
        emit_json(found)
        return
    echo_report("report.txt.j2", r=found)
    if found.diff is not None:  # the change beside its gates; paged on a terminal
        click.echo_via_pager(terminal_safe(f"change: {found.change}\n{found.diff}"))


def report_of(target: Target, store: Store, run_id: str) -> RunReport:
    """One run's report (``factory report``, MCP's ``report``), the change its issue's pull
    request holds with it."""
    from harness.reports.report import run_report

    return run_report(store, target.state, store.get_run(run_id), time.time(), target.repo())


GITHUB_SWITCH = "FACTORY_ENABLED"
_GITHUB_HELP = (
    "Also set the repository variable FACTORY_ENABLED that every job of the GitHub Actions "
    "workflows checks first (needs GITHUB_TOKEN with permission to edit variables)."
)


def _flip_github(target: Target, enabled: bool) -> str:
    forge = target.github_forge(target.settings())
    forge.set_variable(GITHUB_SWITCH, "true" if enabled else "false")
    return f"; {forge.repository}: {GITHUB_SWITCH}={'true' if enabled else 'false'}"


@click.command()
@click.option("--reason", default="stopped by a maintainer", show_default=True)
@click.option("--github", "on_github", is_flag=True, help=_GITHUB_HELP)
@click.pass_context
def stop(ctx: click.Context, reason: str, on_github: bool) -> None:
    """Engage the kill switch: no workflow starts another step until 'factory resume'."""
    from harness.engine.killswitch import engage_kill_switch, stop_reason

    reason = stop_reason("--reason", reason)
    target = target_of(ctx)
    engage_kill_switch(target.store(), reason)
    remote = _flip_github(target, False) if on_github else ""
    click.echo(f"factory stopped: {reason}{remote}")


@click.command()
@click.option("--github", "on_github", is_flag=True, help=_GITHUB_HELP)
@click.pass_context
def resume(ctx: click.Context, on_github: bool) -> None:
    """Release the kill switch."""
    target = target_of(ctx)
    remote = _flip_github(target, True) if on_github else ""
    from harness.engine.killswitch import release_kill_switch

    release_kill_switch(target.store())
    click.echo(f"factory resumed{remote}")
