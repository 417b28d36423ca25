"""The commands that do the factory's work: ``triage`` and ``implement``."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from harness.cli.common import emit_json, provider_override, repo_root, state_dir
from harness.implement.run import implement_issue
from harness.services import open_services
from harness.triage.queue import triage_all


@click.command()
@click.option("--issue", "only", type=int, default=None, help="Triage only this issue.")
@click.option("--json", "as_json", is_flag=True, help="Print the decisions as JSON.")
@click.pass_context
def triage(ctx: click.Context, only: int | None, as_json: bool) -> None:
    """Triage every untriaged open issue against mission.md (labels + one comment each)."""
    root = repo_root(ctx)
    services = open_services(root, state_dir(root), provider_override(ctx))
    results = triage_all(services, only)
    if as_json:
        emit_json(results)
    elif not results:
        click.echo("nothing to triage")
    else:
        table = Table("issue", "decision", "labels", "run", "reason", title="triage")
        for row in results:
            table.add_row(
                str(row["issue"]),
                str(row.get("decision") or row["status"]),
                ", ".join(row.get("labels") or []),
                str(row.get("run_id", "")),
                str(row.get("reason") or "")[:80],
            )
        Console(width=160).print(table)
    if any(r["status"] == "stopped" for r in results):
        ctx.exit(1)


@click.command()
@click.argument("number", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_context
def implement(ctx: click.Context, number: int, as_json: bool) -> None:
    """Implement accepted issue NUMBER in a worktree and open a PR (exit 1 if refused)."""
    root = repo_root(ctx)
    services = open_services(root, state_dir(root), provider_override(ctx))
    outcome = implement_issue(services, number)
    pr = outcome.outputs.get("pr", {})
    data = {
        "issue": number,
        "run_id": outcome.run_id,
        "status": outcome.status,
        "reason": outcome.reason,
        "pr": pr.get("pr"),
        "branch": outcome.outputs.get("worktree", {}).get("branch"),
    }
    if as_json:
        emit_json(data)
    elif outcome.status == "succeeded":
        click.echo(f"issue {number}: pull request {data['pr']} opened from {data['branch']}")
    else:
        click.echo(f"issue {number}: {outcome.status}: {outcome.reason}")
    if outcome.status != "succeeded":
        ctx.exit(1)
