"""``factory audit``: analysers and the auditor over production, at most audit.max_issues new
``factory:found`` issues (``harness/audit.py``, docs/learning.md)."""

from __future__ import annotations

from itertools import zip_longest

import click

from harness.cli.common import emit_json, json_option, opened


@click.command()
@json_option("Print what the audit found as JSON.")
@click.option("--dry-run", is_flag=True, help="Print what an audit would file; file nothing.")
@click.pass_context
def audit(ctx: click.Context, as_json: bool, dry_run: bool) -> None:
    """Find work nobody filed: the analysers and the auditor agent over production's tree;
    new findings (by fingerprint, never one already filed, open or closed) become issues
    labelled factory:found, at most audit.max_issues, for triage to judge (--dry-run: printed
    as what would be filed, nothing filed). Exit 1 when the audit was stopped or refused (a
    budget, the kill switch)."""
    from harness.artifacts import Found
    from harness.audit import run_audit

    outcome = run_audit(opened(ctx, model="audit", sync=True), dry_run)
    found = outcome.artifact(Found) or Found(findings=[])
    rows = [
        {**f.model_dump(exclude={"identity"}), "issue": n}
        for f, n in zip_longest(found.findings, found.issues)
    ]
    result: dict[str, object] = {"run_id": outcome.run_id, "status": outcome.status}
    result |= {"reason": outcome.reason, **found.model_dump(exclude={"findings"}), "filed": []}
    result["would_file" if dry_run else "filed"] = rows
    if as_json:
        emit_json(result)
    else:
        for row in rows:
            said = f"#{row['issue']}" if row["issue"] else "would file"
            click.echo(f"{said}: {row['rule']} in {row['path']}:{row['line']} ({row['analyser']})")
        verb = "would be filed (a look: nothing filed)" if dry_run else "filed"
        click.echo(f"{len(rows)} {verb}; {found.seen} found, {found.known} already filed")
    if outcome.status != "succeeded":
        click.echo(f"factory audit: {outcome.reason}", err=True)
        ctx.exit(1)
