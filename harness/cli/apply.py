"""``factory apply``: carry out a plan recorded in plan mode (the only job that writes)."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.common import PathText, emit_json, json_option, plan_folder, repo_root, state_dir
from harness.errors import UsageError


@click.command()
@click.argument("plan_dir", type=PathText(file_okay=False))
@json_option("Print the results as JSON.")
@click.pass_context
def apply(ctx: click.Context, plan_dir: str, as_json: bool) -> None:
    """Apply the GitHub writes planned in PLAN_DIR, each exactly once (no model, no agent)."""
    from harness.config.settings import load_settings
    from harness.forge.apply import apply_plan
    from harness.git.repo import GitRepo
    from harness.services import github_forge
    from harness.store.db import Store

    if plan_folder(ctx) is not None:
        raise UsageError("apply: --plan makes no sense here; apply writes what a plan holds")
    root = repo_root(ctx)
    settings = load_settings(root, state_dir(root))
    if settings.config.forge != "github":
        raise UsageError("apply: plans are for forge: github; factory.yaml says local")
    state = state_dir(root)
    forge = github_forge(settings, Store.open(state), GitRepo(root, own=[state]))
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
