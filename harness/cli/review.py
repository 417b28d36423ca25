"""``factory approve N`` and ``factory reject N --reason TEXT``: a person's decision on an
issue the factory handed over (``factory:needs-review`` or ``factory:needs-human``); and
``factory cancel N``: a person stopping the factory's work on an issue."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from harness.cli.common import (
    emit_json,
    issue_argument,
    json_option,
    opened,
    target_of,
)
from harness.errors import terminal_safe

if TYPE_CHECKING:
    from harness.decisions import Decision

_by_option = click.option(
    "--by",
    "actor",
    help="Who decides, for the audit trail (default: $FACTORY_ACTOR or the OS user name).",
)


def _report(ctx: click.Context, decision: Decision, as_json: bool) -> None:
    if as_json:
        emit_json(decision)
    else:
        click.echo(decision.message)
    if decision.outcome == "not_merged":
        ctx.exit(1)


@click.command()
@issue_argument
@click.option("--reason", default="", help="Why (one line): kept in the audit trail, not posted.")
@_by_option
@json_option("Print the decision as JSON.")
@click.pass_context
def approve(ctx: click.Context, number: int, reason: str, actor: str | None, as_json: bool) -> None:
    """Approve issue NUMBER: its change lands through validation with every deterministic
    gate still holding (exit 1 if it does not land); a needs-human issue is re-queued."""
    from harness.cli.live import live_line
    from harness.decisions import decide

    services = opened(ctx)
    with live_line("factory approve", services.store, as_json) as say:  # as factory run's
        provider = target_of(ctx).provider
        decided = decide(services, "approve", number, actor, reason, say=say, provider=provider)
    _report(ctx, decided, as_json)


@click.command()
@issue_argument
@click.option("--reason", required=True, help="Why; posted on the issue (one line).")
@_by_option
@json_option("Print the decision as JSON.")
@click.pass_context
def reject(ctx: click.Context, number: int, reason: str, actor: str | None, as_json: bool) -> None:
    """Reject issue NUMBER: close it and its pull request with one comment."""
    from harness.decisions import decide

    _report(ctx, decide(opened(ctx), "reject", number, actor, reason), as_json)


@click.command()
@issue_argument
@click.option("--reason", default="", help="Why (one line): posted on the issue.")
@_by_option
@click.pass_context
def cancel(ctx: click.Context, number: int, reason: str, actor: str | None) -> None:
    """Stop the factory's work on accepted or in-progress issue NUMBER: its runs end (one
    alive in another process within a second), its checkout is removed, it waits for a
    person with one comment; 'factory retry NUMBER' takes it back."""
    from harness.decisions import decide

    click.echo(decide(opened(ctx), "cancel", number, actor, reason).message)


@click.command()
@issue_argument
@click.option("--lesson", is_flag=True, help="NUMBER is a lesson's pull request.")
@click.pass_context
def diff(ctx: click.Context, number: int, lesson: bool) -> None:
    """Print the change the factory's pull request for issue NUMBER holds, or with --lesson
    the edit of the lesson's pull request NUMBER ('factory lessons propose' names it): a
    unified diff against the commit it was made from; exit 2 if the factory opened none."""
    from harness.errors import UsageError
    from harness.review.change import lesson_diff, required_change

    target = target_of(ctx)
    store, repo = target.store(), target.repo()
    found = lesson_diff(store, repo, number) if lesson else required_change(store, repo, number)
    if found is None:
        raise UsageError(f"no lesson's pull request is numbered {number}")
    click.echo_via_pager(terminal_safe(found.shown()))  # agent-written text
