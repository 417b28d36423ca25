"""``factory doctor``: setup, tests, the app and the journeys, tried on production."""

from __future__ import annotations

import click

from harness.cli.common import (
    echo_report,
    emit_json,
    json_option,
    target_of,
)
from harness.cli.live import live_line


@click.command()
@json_option("Print ok, commit, provider and every check as JSON.")
@click.option(
    "--journeys",
    "every_journey",
    is_flag=True,
    help="Only the hold-out journeys, on production's tree set up as a run would (a set-up "
    "kept for the same inputs is reused: none runs).",
)
@click.option(
    "--journey", "names", multiple=True, help="Only the journey of this name (repeat for more)."
)
@click.pass_context
def doctor(ctx: click.Context, as_json: bool, every_journey: bool, names: tuple[str, ...]) -> None:
    """Run setup, test, start (until ready_path answers) and every hold-out journey on the
    production branch, in the factory's sandbox (exit 0 all pass, 1 one fails, 2 config);
    --journeys or --journey NAME: the journeys alone."""
    from harness.doctor import run_doctor
    from harness.store.health import state_health

    target = target_of(ctx)
    journeys = names if names or every_journey else None  # None: every check
    health = state_health(target.state)
    with live_line("doctor", quiet=as_json) as say:
        report = run_doctor(target.root, target.state, target.provider, say, journeys)
    if as_json:
        # the report's fields (records as they are: cli/common.plain) and its warnings,
        # ok for it and the state alike
        shown = {**vars(report), "warnings": report.warnings, "state": health}
        emit_json({"ok": report.ok and health.ok, **shown})
    else:
        echo_report("doctor.txt.j2", report=report, health=health)
    if not (report.ok and health.ok):
        ctx.exit(1)
