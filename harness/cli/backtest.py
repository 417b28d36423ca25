"""``factory backtest``: rehearse the factory on past work (``harness/backtest``)."""

from __future__ import annotations

from contextlib import closing
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click

from harness.cli.common import (
    ISSUE_NUMBER,
    PathText,
    emit_json,
    json_option,
    target_of,
)
from harness.errors import MAX_INTEGER

if TYPE_CHECKING:
    from harness.backtest.report import BacktestReport


def _print(result: BacktestReport) -> None:
    from harness.cli.tables import print_table

    print_table(
        f"factory backtest {result.backtest}",
        (
            "case",
            "issue",
            "triage",
            "route",
            "resolved",
            "validator",
            "cost $",
            "s",
            "changed",
            "why",
        ),
        [
            (
                row.id,
                row.issue or "",
                row.triage or row.status,
                row.route_shown,
                row.resolved_shown,
                row.validator_shown,
                f"{row.cost_usd:.4f}",
                f"{row.seconds:.0f}",
                row.changed_shown,
                row.reason,
            )
            for row in result.cases
        ],
    )
    if not result.summary.cases and not result.stopped:
        click.echo(
            "0 cases: the factory landed no change on the production branch, no first-parent "
            "commit of it closes an issue the forge held when it was made (its message saying "
            "'Fixes #N', 'Closes #N' or 'Resolves #N'), or the manifest names none; "
            "--manifest FILE names cases by hand (docs/backtest.md)"
        )
    click.echo(result.summary.line())


@click.command()
@click.option("--limit", type=click.IntRange(1, MAX_INTEGER), help="At most N cases.")
@click.option(
    "--issue",
    "issues",
    type=ISSUE_NUMBER,
    multiple=True,
    help="Only the fixes of this issue (repeat for more).",
)
@click.option(
    "--manifest",
    type=PathText(dir_okay=False),
    help="The cases of this YAML file instead of the production branch's history.",
)
@click.option(
    "--governance",
    metavar="REV",
    help="Rehearse the governance files of this commit (an edit) instead of production's.",
)
@click.option(
    "--max-parallel",
    type=click.IntRange(1, 32),
    help="Cases at a time (default: max_parallel in factory.yaml).",
)
@json_option("Print {cases, summary} as JSON.")
@click.pass_context
def backtest(
    ctx: click.Context,
    limit: int | None,
    issues: tuple[int, ...],
    manifest: str | None,
    governance: str | None,
    max_parallel: int | None,
    as_json: bool,
) -> None:
    """Rehearse the factory on past work: each fixed issue rebuilt at its fix's parent, the
    fix's tests hidden, triage -> implement -> validate as 'factory run' would (never
    merging, never writing to the forge or production), graded by the hidden tests.

    Exit 0 when the rehearsal ran, whatever it found; 1 when the kill switch or a budget
    stopped it (run it again to go on), or when no case produced a result (each one
    inconclusive: the model, the forge or the sandbox failed); 2 on bad input."""
    from harness.backtest.runner import Request, run_backtest
    from harness.cli.live import live_line
    from harness.model.provider import require_model

    target = target_of(ctx)
    require_model(target.settings(), target.provider)
    request = Request(
        limit=limit,
        issues=issues,
        manifest=Path(manifest).resolve() if manifest else None,
        governance=governance,
        provider=target.provider,
        max_parallel=max_parallel,
    )
    if as_json:  # stdout is the JSON; a long rehearsal still says where it is, on stderr
        result = run_backtest(target.root, target.state, request, partial(click.echo, err=True))
        emit_json(result)
    else:
        with (
            closing(target.store()) as store,
            live_line("factory backtest", store) as say,
        ):
            result = run_backtest(target.root, target.state, request, say)
        _print(result)
    if result.stopped:
        click.echo(f"factory backtest stopped: {result.stopped}; run it again to go on", err=True)
        ctx.exit(1)
    done = [row for row in result.cases if row.status == "done"]
    if done and all(row.error for row in done):
        click.echo(
            "factory backtest: no case produced a result, each one inconclusive (its reason "
            "says why: the factory's model, forge or sandbox failed): the rehearsal did not run",
            err=True,
        )
        ctx.exit(1)
