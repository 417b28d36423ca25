"""``factory issue new|list|show``: the built-in local forge from the command line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from harness.cli.common import (
    echo_report,
    emit_json,
    issue_argument,
    json_option,
    read_stdin_text,
    target_of,
)
from harness.errors import UsageError, check_one_line, terminal_safe

if TYPE_CHECKING:
    from harness.forge.local import LocalForge

MAX_TITLE = 1000
MAX_BODY = 10 * 1024 * 1024


def _forge(ctx: click.Context) -> LocalForge:
    from harness.forge.local import LocalForge

    target = target_of(ctx)
    return LocalForge(target.store(), target.repo())


@click.group()
def issue() -> None:
    """File and read issues on the built-in local forge."""


@issue.command("new")
@click.option("--title", required=True, help="One line.")
@click.option("--body", default="", help="The description; '-' reads it from standard input.")
@click.option("--author", help="Who filed it (default: the current user).")
@json_option("Print the new issue as JSON.")
@click.pass_context
def new(ctx: click.Context, title: str, body: str, author: str | None, as_json: bool) -> None:
    """File an issue; prints its number."""
    if body == "-":
        body = read_stdin_text("--body")
    title, body, author = checked_issue(title, body, author)
    created = _forge(ctx).create_issue(title, body, author)
    if as_json:
        emit_json(created.to_json([]))
    else:
        click.echo(f"filed issue {created.number}: {terminal_safe(title)}")
        click.echo("next: 'factory run --once' triages it (then implements, validates, merges)")


def checked_issue(title: str, body: str, author: str | None) -> tuple[str, str, str]:
    """A new issue's title, body and author as the local forge takes them, or one line
    saying what is wrong (``factory issue new``, ``factory mcp``'s file_issue)."""
    from harness.decisions import check_actor
    from harness.forge.base import default_author

    title, body = checked_title(title), checked_body(body)
    return title, body, check_actor(author or default_author(), "--author")


def checked_title(title: str) -> str:
    """An issue's title as the local forge takes it (stripped), or one line saying what is
    wrong (a new issue's, an edited one's)."""
    title = title.strip()
    if not title:
        raise UsageError("--title: must not be empty")
    if "\n" not in title:
        check_one_line("--title", title)
    if "\n" in title or len(title) > MAX_TITLE:
        raise UsageError(f"--title: must be one line of at most {MAX_TITLE} characters")
    return title


def checked_body(body: str) -> str:
    """An issue's body if the local forge takes it, or one line saying it is too long."""
    size = len(body.encode())
    if size > MAX_BODY:
        raise UsageError(f"--body: {size:,} bytes is more than the {MAX_BODY:,} allowed")
    return body


@issue.command("edit")
@issue_argument
@click.option("--title", help="The new title (one line).")
@click.option("--body", help="The new description; '-' reads standard input.")
@click.pass_context
def edit(ctx: click.Context, number: int, title: str | None, body: str | None) -> None:
    """Edit an issue's title or body, as its author would (a 'needs info' issue is then
    triaged again)."""
    if title is None and body is None:
        raise UsageError("edit: give --title, --body or both")
    if body == "-":
        body = read_stdin_text("--body")
    if title is not None:
        title = checked_title(title)
    if body is not None:
        body = checked_body(body)
    forge = _forge(ctx)
    current = forge.get_issue(number)
    title = current.title if title is None else title
    body = current.body if body is None else body
    forge.edit_issue(number, title, body)
    click.echo(number)


@issue.command("list")
@click.option("--state", type=click.Choice(["open", "closed", "all"]), default="open")
@json_option("Print the issues as a JSON array.")
@click.pass_context
def list_(ctx: click.Context, state: str, as_json: bool) -> None:
    """List issues (open by default)."""
    forge = _forge(ctx)
    issues = forge.list_issues(state)
    if as_json:
        emit_json([i.to_json(forge.list_comments(i.number)) for i in issues])
        return
    for i in issues:
        labels = f"  [{', '.join(i.labels)}]" if i.labels else ""
        click.echo(terminal_safe(f"#{i.number}  {i.state:6}  {i.title[:70]}  ({i.author}){labels}"))


@issue.command("show")
@issue_argument
@json_option("Print the issue and its comments as JSON.")
@click.pass_context
def show(ctx: click.Context, number: int, as_json: bool) -> None:
    """Show one issue with its labels and comments, and the reviewer's findings on the newest
    change the factory made for it."""
    forge = _forge(ctx)
    if as_json:
        emit_json(forge.get_issue(number).to_json(forge.list_comments(number)))
        return
    from harness.reports.issues import issue_text

    echo_report("issue.txt.j2", t=issue_text(forge, forge.store, number))


@issue.command("label")
@issue_argument
@click.argument("labels", nargs=-1, required=True)
@click.option("--remove", is_flag=True, help="Remove the labels instead of adding them.")
@click.pass_context
def label(ctx: click.Context, number: int, labels: tuple[str, ...], remove: bool) -> None:
    """Add (or --remove) labels, as a maintainer would, e.g. factory:approved."""
    from harness.decisions import default_actor

    bad = [x for x in labels if not x.strip() or len(x) > 50 or any(c.isspace() for c in x)]
    if bad:
        raise UsageError(f"label {bad[0]!r}: one word of at most 50 characters")
    for name in labels:
        check_one_line("label", name)
    forge = _forge(ctx)
    forge.get_issue(number)
    (forge.remove_labels if remove else forge.add_labels)(number, list(labels))
    # a person's action, in the audit trail (the Autonomy Index reads it)
    event = {"issue": number, "actor": default_actor(), "labels": list(labels), "removed": remove}
    forge.store.append_event(None, "human.label", event)
    click.echo(", ".join(forge.get_issue(number).labels) or "(no labels)")
