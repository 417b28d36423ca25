"""``factory lessons`` and ``factory lessons propose``: what refusals taught, with their
citations, and governance edits proposed from them (``harness/lessons``, docs/learning.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from harness.cli.common import emit_json, json_option, opened

if TYPE_CHECKING:
    from harness.artifacts import Lesson


def _state(x: Lesson) -> str:
    said = "stale" if x.stale else x.proposal and f"proposal {x.proposal}"
    return said or ("proposable" if x.proposable else "gathering")


@click.group(invoke_without_command=True)
@json_option("Print the lessons as JSON.")
@click.pass_context
def lessons(ctx: click.Context, as_json: bool) -> None:
    """Lessons from evidence: refusals and people's decisions grouped by what they are about,
    each citation checked against production (a stale one is shown, never counted)."""
    if ctx.invoked_subcommand is not None:
        return
    from harness.cli.tables import print_table
    from harness.lessons.evidence import lessons as derive

    found = derive(opened(ctx))
    if as_json:
        return emit_json(found)
    if not found:
        click.echo("no lessons yet: no refusal or person's decision on record has a cause to learn")
        return None
    columns = ("about", "citations", "independent", "state", "newest")
    rows = [
        (x.about, len(x.citations), x.independent, _state(x), x.citations[0].words) for x in found
    ]
    print_table("factory lessons", columns, rows)


@lessons.command()
@json_option("Print a row per run as JSON.")
@click.pass_context
def propose(ctx: click.Context, as_json: bool) -> None:
    """Propose governance edits for lessons with two independent citations (at most
    lessons.max_proposals): a branch and a pull request each, rehearsed with 'factory backtest
    --governance'; never merged by the factory. Exit 1 when a run was refused or stopped."""
    from harness.artifacts import Lesson, Proposal
    from harness.engine.runner import Engine

    services = opened(ctx, model=True)
    rows: list[dict[str, Any]] = []
    for _ in range(services.settings.governance.rules.lessons.max_proposals):
        outcome = Engine(services).run("lessons")  # an interrupted run is finished first
        made = outcome.artifact(Proposal)
        picked = outcome.artifact(Lesson)
        reason = outcome.reason
        about = picked.about if picked else None
        row = {"run_id": outcome.run_id, "status": outcome.status, "about": about}
        rows.append({**row, "reason": reason, **(made.model_dump(mode="json") if made else {})})
        said = f"PR #{made.pr} on {made.branch}" if made else reason or "nothing to propose"
        click.echo(f"{about or 'no lesson'}: {said} (run {outcome.run_id})", err=as_json)
        if made is None:
            break
    if as_json:
        emit_json(rows)
    if any(row["status"] != "succeeded" for row in rows):
        ctx.exit(1)
