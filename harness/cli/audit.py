"""``factory audit``: analysers and the auditor over production, at most audit.max_issues new
``factory:found`` issues (``harness/audit.py``, docs/learning.md)."""

from __future__ import annotations

import click

from harness.cli.common import emit_json, opened


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print what the audit found as JSON.")
@click.pass_context
def audit(ctx: click.Context, as_json: bool) -> None:
    """Find work nobody filed: the analysers and the auditor agent over production's tree;
    new findings (by fingerprint, never one already filed, open or closed) become issues
    labelled factory:found, at most audit.max_issues, for triage to judge. Exit 1 when the
    audit was stopped or refused (a budget, the kill switch)."""
    from harness.artifacts import Found
    from harness.engine.runner import Engine

    outcome = Engine(opened(ctx, model="audit", sync=True)).run("audit")
    found = outcome.artifact(Found) or Found(findings=[])
    rows = [
        {**f.model_dump(), "issue": n} for f, n in zip(found.findings, found.issues, strict=False)
    ]
    result: dict[str, object] = {"run_id": outcome.run_id, "status": outcome.status}
    result |= {"reason": outcome.reason, **found.model_dump(exclude={"findings"}), "filed": rows}
    if as_json:
        emit_json(result)
    for row in [] if as_json else rows:
        click.echo(
            f"#{row['issue']}: {row['rule']} in {row['path']}:{row['line']} ({row['analyser']})"
        )
    if not as_json:
        click.echo(f"{len(rows)} filed; {found.seen} found, {found.known} already filed")
    if outcome.status != "succeeded":
        click.echo(f"factory audit: {outcome.reason}", err=True)
        ctx.exit(1)
