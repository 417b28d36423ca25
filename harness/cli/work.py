"""The commands that do the factory's work: ``triage``, ``implement``, ``validate``, ``run``."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from harness.cli.common import emit_json, provider_override, repo_root, state_dir
from harness.cycle import ready_to_implement, run_cycle
from harness.engine.runner import RunOutcome
from harness.implement.run import implement_issue
from harness.services import open_services
from harness.triage.queue import triage_all
from harness.validate.run import validate_issue


@click.command()
@click.option("--issue", "only", type=int, default=None, help="Triage only this issue.")
@click.option("--batch", is_flag=True, help="Send the agent's calls as one Message Batch.")
@click.option(
    "--batch-wait",
    type=click.FloatRange(min=1),
    default=3600.0,
    show_default=True,
    help="Seconds to wait for the batch before leaving it for the next run.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the decisions as JSON.")
@click.pass_context
def triage(
    ctx: click.Context, only: int | None, batch: bool, batch_wait: float, as_json: bool
) -> None:
    """Triage every untriaged open issue against mission.md (labels + one comment each)."""
    root = repo_root(ctx)
    services = open_services(root, state_dir(root), provider_override(ctx))
    results = triage_all(services, only, batch=batch, batch_wait_s=batch_wait)
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
    stopped = [r for r in results if r["status"] == "stopped"]
    if stopped:
        click.echo(f"triage stopped: {stopped[0].get('reason') or 'see the table'}", err=True)
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


def _outcome_json(number: int, outcome: RunOutcome) -> dict[str, object]:
    out = outcome.outputs
    return {
        "issue": number,
        "run_id": outcome.run_id,
        "status": outcome.status,
        "reason": outcome.reason,
        "route": out.get("decide", {}).get("route"),
        "score": out.get("decide", {}).get("score"),
        "merge_sha": out.get("merge", {}).get("merge_sha"),
        "reverted": out.get("smoke", {}).get("reverted"),
    }


@click.command()
@click.argument("number", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_context
def validate(ctx: click.Context, number: int, as_json: bool) -> None:
    """Validate the PR of issue NUMBER with the hold-out and the sealed validator; merge if
    every gate holds (exit 1 if it does not merge)."""
    root = repo_root(ctx)
    services = open_services(root, state_dir(root), provider_override(ctx))
    outcome = validate_issue(services, number)
    data = _outcome_json(number, outcome)
    if as_json:
        emit_json(data)
    else:
        click.echo(
            f"issue {number}: {outcome.status}, route {data['route']}: {outcome.reason or ''}"
        )
    if data["route"] != "merge" or data["reverted"]:
        ctx.exit(1)


@click.command("run")
@click.option("--once", is_flag=True, help="One cycle, then exit (the default).")
@click.option(
    "--interval",
    type=click.IntRange(min=60),
    default=None,
    help="Repeat every N seconds until stopped.",
)
@click.option("--max-parallel", type=click.IntRange(1, 32), default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def run_command(
    ctx: click.Context, once: bool, interval: int | None, max_parallel: int | None, as_json: bool
) -> None:
    """One full cycle: triage -> implement (parallel) -> validate -> merge."""
    import time

    root = repo_root(ctx)
    say = (lambda _: None) if as_json else (lambda line: click.echo(line, err=True))
    while True:
        result = run_cycle(root, state_dir(root), provider_override(ctx), max_parallel, say)
        if as_json:
            emit_json(result)
        else:
            table = Table("stage", "issue", "status", "route / PR", "why", title="factory run")
            for row in result["triage"]:
                table.add_row(
                    "triage",
                    str(row["issue"]),
                    str(row.get("decision") or row["status"]),
                    "",
                    str(row.get("reason") or "")[:70],
                )
            for name in ("implement", "validate"):
                for row in result[name]:
                    where = row.get("route") or (f"PR {row['pr']}" if row.get("pr") else "")
                    table.add_row(
                        name,
                        str(row["issue"]),
                        row["status"],
                        str(where),
                        str(row.get("reason") or "")[:70],
                    )
            Console(width=160).print(table)
        if once or interval is None:
            return
        time.sleep(interval)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as a JSON array.")
@click.pass_context
def queue(ctx: click.Context, as_json: bool) -> None:
    """The issues ready to implement (read-only: what a CI fan-out runs on)."""
    root = repo_root(ctx)
    services = open_services(root, state_dir(root), provider_override(ctx))
    numbers = ready_to_implement(services)
    if as_json:
        click.echo(json.dumps(numbers))
    else:
        for number in numbers:
            click.echo(number)
