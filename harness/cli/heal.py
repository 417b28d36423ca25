"""``factory health`` (production's health now, healed when red), ``factory flaky`` and
``factory checks`` (the learned checks)."""

from __future__ import annotations

import re

import click

from harness.cli.common import echo_report, emit_json, json_option, opened, target_of
from harness.errors import LeaseError, UsageError


@click.command()
@json_option("Print what was found and done as JSON.")
@click.option("--revert", help="Check nothing: start the revert of this commit heal blamed.")
@click.pass_context
def health(ctx: click.Context, as_json: bool, revert: str | None) -> None:
    """Run production's health now; when red, heal it: diagnose, bisect, revert through the
    merge queue, regression issue (docs/heal.md). Exit 0 when production is green (again),
    1 when it is not. ``--revert SHA``: production is not checked again; the revert of SHA,
    which an earlier heal blamed, starts on the regression issue it filed (GitHub's heal
    job, after the health job's plan was applied)."""
    from harness.artifacts import Landing
    from harness.cli.live import live_line
    from harness.cli.work import cycle_lease
    from harness.heal.production import production_health
    from harness.validate.run import validate_issue

    if revert is not None and not re.fullmatch("[0-9a-f]{40}", revert):  # heal's culprit
        raise UsageError(f"health: --revert takes the full SHA heal blamed, not {revert[:60]!r}")
    services = opened(ctx)  # no model: heal and revert validation ask none
    with cycle_lease(services.store) as busy:
        if busy:
            raise LeaseError(f"{busy}: production is checked there; try again when it ends")
        with live_line("health", services.store, as_json, piped=False) as say:
            say("production health …")
            state = production_health(services, revert)
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


@click.command()
@click.argument("action", required=False, type=click.Choice(["show", "retire"]))
@click.argument("check_id", required=False)
@click.option("--reason", help="retire: why it is retired (recorded with it).")
@json_option("Print the learned checks (show: the one, whole) as JSON.")
@click.pass_context
def checks(
    ctx: click.Context, action: str | None, check_id: str | None, reason: str | None, as_json: bool
) -> None:
    """The learned checks (docs/how-it-works.md, "Learned checks"): each criterion a merged
    change passed on a quote, replayed with the hold-out — its origin, state, newest replay and
    how long it took. ``show ID``: one whole, its actions and quote too (the hold-out: the
    maintainer's view); ``retire ID --reason WHY``: never replayed again (final)."""
    from harness.browser.journeys import learned_check
    from harness.reports.checks import check_rows
    from harness.validate.learned import retire_by_hand

    if bool(action) != bool(check_id) or bool(reason) != (action == "retire"):
        raise UsageError("factory checks [show ID | retire ID --reason WHY]")
    services = opened(ctx)
    holdout = services.settings.holdout_dir
    if action == "retire":
        retire_by_hand(holdout, str(check_id), str(reason))
        return click.echo(f"retired {check_id}")
    shown = [learned_check(holdout, str(check_id))] if check_id else []  # show: all of it
    rows = [r for r in check_rows(services) if check_id in (None, r.id)]
    if as_json:
        return emit_json(shown[0] if shown else rows)
    echo_report("checks.txt.j2", rows=rows, shown=shown)
