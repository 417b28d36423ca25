"""``factory apply``: carry out a plan recorded in plan mode (the only job that writes)."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.common import PathText, emit_json, json_option, target_of
from harness.errors import UsageError


@click.command()
@click.argument("plan_dir", type=PathText(file_okay=False))
@json_option("Print the results as JSON.")
@click.pass_context
def apply(ctx: click.Context, plan_dir: str, as_json: bool) -> None:
    """Apply the GitHub writes planned in PLAN_DIR, each exactly once (no model, no agent)."""
    from harness.forge.apply import apply_plan

    target = target_of(ctx)
    if target.plan is not None:
        raise UsageError("apply: --plan makes no sense here; apply writes what a plan holds")
    settings = target.settings()
    if settings.config.forge != "github":
        raise UsageError("apply: plans are for forge: github; factory.yaml says local")
    forge = target.github_forge(settings)
    rows = apply_plan(forge, Path(plan_dir).resolve())
    if as_json:
        emit_json(rows)
    else:
        for row in rows:
            extra = {k: v for k, v in row.items() if k not in ("op", "issue", "result")}
            issue = f"#{row['issue']}" if row.get("issue") else ""
            click.echo(f"{row['op']:<14} {issue:<6} {row['result']} {extra or ''}".rstrip())
    refused = [r for r in rows if r["result"] in ("refused", "skipped")]
    if refused:
        raise SystemExit(1)
