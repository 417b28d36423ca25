"""``factory health`` (production's health now, healed when red) and ``factory flaky``."""

from __future__ import annotations

import click

from harness.cli.common import emit_json, json_option, target_of
from harness.errors import LeaseError


@click.command()
@json_option("Print what was found and done as JSON.")
@click.pass_context
def health(ctx: click.Context, as_json: bool) -> None:
    """Run production's health now; when red, heal it: diagnose, bisect, revert through the
    merge queue, regression issue (docs/heal.md). Exit 0 when production is green (again),
    1 when it is not."""
    from harness.artifacts import Landing
    from harness.cli.common import opened
    from harness.cli.live import live_line
    from harness.cli.work import cycle_lease
    from harness.heal.production import production_health
    from harness.validate.run import validate_issue

    services = opened(ctx)  # no model: heal and revert validation ask none
    with cycle_lease(services.store) as busy:
        if busy:
            raise LeaseError(f"{busy}: production is checked there; try again when it ends")
        with live_line("health", services.store, as_json, piped=False) as say:
            say("production health …")
            state = production_health(services)
            landed = None
            reverting = state.reverting
            if reverting and target_of(ctx).plan is None:  # planned: its PR is not there yet
                say(f"validating the revert of issue {reverting} …")
                landed = validate_issue(services, reverting).artifact(Landing)
    green = state.green or landed is not None
    shown = {
        **state.model_dump(exclude_none=True),
        "revert_landed": landed.merge_sha if landed else None,
    }
    if as_json:
        emit_json({**shown, "green_now": green})
    else:  # what was found and done, of the fields --json prints
        click.echo(f"production is {'green' if state.green else f'red: {state.reason}'}")
        for key in ("outcome", "heal", "tracking", "reverting", "revert_landed"):
            if shown.get(key):
                click.echo(f"  {key}: {shown[key]}")
    if not green:
        ctx.exit(1)


@click.command()
@json_option("Print every flaky check as JSON.")
@click.pass_context
def flaky(ctx: click.Context, as_json: bool) -> None:
    """The checks heal found flaky (failed in production's health run, then passed again on
    the same tree), with their history. A hidden journey is named by its file: this is the
    maintainer's view (an issue shows a digest)."""
    from harness.validate.suite import flakes

    store = target_of(ctx).store()
    found = sorted(flakes(store).items(), key=lambda kv: -len(kv[1]))
    history = {
        check: [{"run": run, "sha": sha, "at": store.get_run(run).started_at} for run, sha in seen]
        for check, seen in found
    }
    if as_json:
        emit_json([{"check": c, "flakes": len(h), "history": h} for c, h in history.items()])
    elif not history:
        click.echo("no flaky check")
    for check, seen in [] if as_json else history.items():
        click.echo(f"{check}  {len(seen)} flakes, last {seen[-1]['at']} on {seen[-1]['sha'][:12]}")
