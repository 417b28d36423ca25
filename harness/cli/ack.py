"""``factory ack N``: the immediate answer to a new issue (the pre-screen, no model)."""

from __future__ import annotations

import click

from harness.cli.common import issue_argument, opened
from harness.errors import check_one_line


@click.command()
@issue_argument
@click.option(
    "--triage-at",
    default="at its next triage run",
    show_default=True,
    help="When the issue will be triaged, as the comment says it (e.g. 'tonight at 02:17 UTC').",
)
@click.pass_context
def ack(ctx: click.Context, number: int, triage_at: str) -> None:
    """Tell the author of a new issue that it was received: one comment saying when it will
    be triaged, or why the pre-screen holds it. No model, no spend, no label; never twice."""
    from harness.artifacts import AckInputs, Acknowledgement
    from harness.engine.killswitch import check_kill_switch
    from harness.engine.runner import Engine

    check_one_line("--triage-at", triage_at)
    services = opened(ctx)
    check_kill_switch(services)
    services.forge.get_issue(number)  # one that does not exist is an error, not a failed run
    outcome = Engine(services).run("ack", number, AckInputs(number=number, triage_at=triage_at))
    services.forge.settle()
    done = outcome.artifact(Acknowledgement)
    if outcome.status != "succeeded" or done is None:
        click.echo(f"issue {number}: not acknowledged: {outcome.reason}", err=True)
        ctx.exit(1)
    elif done.posted:
        click.echo(f"issue {number}: acknowledged (comment {done.comment_id})")
    else:
        click.echo(f"issue {number}: not acknowledged: {done.why}")
