"""The commands that do the factory's work: ``triage``, ``implement``, ``validate``, ``run``."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import click

from harness.cli.common import (
    ISSUE_NUMBER,
    FiniteFloatRange,
    emit_json,
    issue_argument,
    json_option,
    opened,
    target_of,
)
from harness.cli.live import live_line
from harness.errors import LeaseError

if TYPE_CHECKING:
    from harness.cycle import CycleResult
    from harness.store.db import Store

# a cycle can take hours (CI waits, validations); a killed holder is taken over at once
CYCLE_TTL_S = 24 * 3600.0


@click.command()
@click.option("--issue", "only", type=ISSUE_NUMBER, help="Triage only this issue.")
@click.option("--batch", is_flag=True, help="Send the agent's calls as one Message Batch.")
@click.option(
    "--batch-wait",
    type=FiniteFloatRange(min=1, max=7 * 24 * 3600),
    default=3600.0,
    show_default=True,
    help="Seconds to wait for the batch before leaving it for the next run.",
)
@json_option("Print the decisions as JSON.")
@click.pass_context
def triage(
    ctx: click.Context, only: int | None, batch: bool, batch_wait: float, as_json: bool
) -> None:
    """Triage every untriaged open issue against mission.md (labels + one comment each)."""
    from harness.cli.tables import print_table
    from harness.triage.queue import triage_all

    services = opened(ctx, model=True)
    with cycle_lease(services.store) as busy:
        if busy:
            raise LeaseError(f"{busy}: it judges the issues; try again when it has finished")
        with live_line("triage", services.store, as_json, piped=False) as say:
            say("judging untriaged issues …")
            results = triage_all(services, only, batch_wait if batch else None)
    if as_json:
        emit_json(results)
    elif not results:
        click.echo("nothing to triage")
    else:
        print_table(
            "triage",
            ("issue", "decision", "labels", "run", "reason"),
            [
                (
                    row["issue"],
                    row.get("decision") or row["status"],
                    ", ".join(row.get("labels") or []),
                    row.get("run_id", ""),
                    row.get("reason") or "",
                )
                for row in results
            ],
        )
    stopped = [r for r in results if r["status"] == "stopped"]
    if stopped:
        click.echo(f"triage stopped: {stopped[0].get('reason') or 'see the table'}", err=True)
        ctx.exit(1)


@click.command()
@issue_argument
@json_option("Print the outcome as JSON.")
@click.pass_context
def implement(ctx: click.Context, number: int, as_json: bool) -> None:
    """Implement accepted issue NUMBER in a worktree and open a PR (exit 1 if refused)."""
    from harness.artifacts import Worktree
    from harness.cycle import stage_row
    from harness.implement.run import implement_issue

    services = opened(ctx, model=True)
    with live_line("implement", services.store, as_json, piped=False) as say:
        say(f"issue {number} …")
        outcome = implement_issue(services, number)
    worktree = outcome.artifact(Worktree)
    row = stage_row("implement", number, outcome, None)
    data = {**row, "branch": worktree.branch if worktree else None}
    if as_json:
        emit_json(data)
    elif outcome.status == "succeeded":
        click.echo(f"issue {number}: pull request {data['pr']} opened from {data['branch']}")
    else:
        click.echo(f"issue {number}: {outcome.status}: {outcome.reason}")
    if outcome.status != "succeeded":
        ctx.exit(1)


@click.command()
@issue_argument
@json_option("Print the outcome as JSON.")
@click.pass_context
def validate(ctx: click.Context, number: int, as_json: bool) -> None:
    """Validate the PR of issue NUMBER with the hold-out and the sealed validator; merge if
    every gate holds (exit 1 if it does not merge)."""
    from harness.artifacts import Validation
    from harness.cycle import outcome_of, stage_row
    from harness.validate.run import validate_issue

    services = opened(ctx, model=True)
    with live_line("validate", services.store, as_json, piped=False) as say:
        say(f"issue {number} …")
        outcome = validate_issue(services, number)
    row, decided = stage_row("validate", number, outcome, None), outcome.artifact(Validation)
    data = {**row, "score": decided.score if decided else None, "outcome": outcome_of(row)}
    if as_json:
        emit_json(data)
    else:
        click.echo(f"issue {number}: {data['outcome']}: {outcome.reason or ''}")
    if data["route"] != "merge" or data["reverted"]:
        ctx.exit(1)


@click.command("run")
@click.option("--once", is_flag=True, help="One cycle, then exit (the default).")
@click.option(
    "--interval",
    type=click.IntRange(min=60, max=7 * 24 * 3600),
    help="Repeat every N seconds until stopped.",
)
@click.option("--max-parallel", type=click.IntRange(1, 32))
@click.option(
    "--fail-on-waiting",
    is_flag=True,
    help="Exit 3 when an issue of the cycle now waits for a person (a review, a decision).",
)
@json_option("Print every stage's rows as JSON.")
@click.pass_context
def run_command(
    ctx: click.Context,
    once: bool,
    interval: int | None,
    max_parallel: int | None,
    fail_on_waiting: bool,
    as_json: bool,
) -> None:
    """One full cycle: triage -> implement (parallel) -> validate -> merge.

    Exits 0 when the cycle ran, whatever became of the issues (the table says); 1 when it
    could not do its work (production red, the kill switch, a budget); 3 with
    --fail-on-waiting when an issue now waits for a person. A cycle with nothing to do asks
    no model and needs no key."""
    import time

    from harness.cli.tables import print_table
    from harness.cycle import cycle_exit, run_cycle

    target = target_of(ctx)
    store = target.store()
    with ctrl_c(target.state):
        while True:
            result: CycleResult
            with cycle_lease(store) as busy:
                if busy:
                    result = {"triage": [], "implement": [], "validate": [], "busy": busy}
                else:
                    store.backup()  # what a state found corrupt later is restored from
                    with live_line("factory run", store, as_json) as say:
                        result = run_cycle(
                            target.root,
                            target.state,
                            target.provider,
                            max_parallel,
                            say,
                            plan=target.plan,
                        )
            if busy:
                click.echo(f"factory run: {busy}; this run did nothing", err=True)
            if as_json:
                emit_json(result)
            else:
                columns = ("stage", "issue", "outcome", "PR", "why")
                print_table("factory run", columns, _run_rows(result))
                if people := result.get("waiting") or result.get("held"):
                    said = ", ".join(f"#{n}" for n in people)
                    click.echo(f"waiting for a person: {said} ('factory approve N', 'reject N')")
                waiting = result.get("deferred")
                if waiting:
                    click.echo(
                        f"waiting: {waiting['count']} issue(s) deferred by the author's daily "
                        f"limit until {waiting['until']} ('factory retry N' takes one now; a "
                        "change of triage.trusted_authors or of the limit, all of them)"
                    )
            if once or interval is None:
                ctx.exit(cycle_exit(result, fail_on_waiting))
            time.sleep(interval)


@contextmanager
def ctrl_c(state: Path) -> Iterator[None]:
    """``factory run``'s Ctrl-C: the first says at once that the runs stop after the step they
    are in (the kill switch's check, for this process alone); a second ends them where they
    are, recorded as interrupted, and exits. Either way running again resumes them."""
    from harness.caches import PROCESS
    from harness.engine.killswitch import INTERRUPT_REASON, INTERRUPTED, Driven
    from harness.store.db import Store

    def pressed(signum: int, frame: object) -> None:
        if not INTERRUPTED.is_set():
            INTERRUPTED.set()
            click.echo(
                "stopping after this step — Ctrl-C again to abort; run again to resume", err=True
            )
            return
        store = Store.open(state)
        for run_id in list(PROCESS.part(Driven).runs):
            reason = f"{INTERRUPT_REASON} (aborted in a step; run again to resume)"
            store.set_run_status(run_id, "stopped", reason=reason, event=True)
        click.echo("aborted: run again to resume (nothing done is lost)", err=True)
        os._exit(130)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, pressed)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
        INTERRUPTED.clear()


@contextmanager
def cycle_lease(store: Store) -> Iterator[str | None]:
    """The run-level lease: one ``factory run`` cycle or ``factory triage`` judges and works
    issues on this state at a time, so no issue is triaged (and paid for) twice. Yields None
    when this process holds it, else one line saying who does (a killed holder is taken
    over)."""
    from harness.store.leases import CYCLE_LEASE, holder_id

    holder = holder_id()
    try:
        store.acquire_lease(CYCLE_LEASE, holder, CYCLE_TTL_S)
    except LeaseError:
        yield f"another run holds this state ({store.lease_holder(CYCLE_LEASE) or 'just now'})"
        return
    try:
        yield None
    finally:
        store.release_lease(CYCLE_LEASE, holder)


def _run_rows(result: CycleResult) -> list[tuple[object, ...]]:
    from harness.cycle import outcome_of

    rows: list[tuple[object, ...]] = [
        ("triage", row["issue"], row.get("decision") or row["status"], "", row.get("reason"))
        for row in result["triage"]
    ]
    for name, stage in (("implement", result["implement"]), ("validate", result["validate"])):
        rows += [
            (name, r["issue"], outcome_of(r) or r["status"], r.get("pr") or "", r.get("reason"))
            for r in stage
        ]
    production = result.get("production")
    if production and not production["green"]:
        tracking = production.get("tracking") or ""
        rows.append(("production", tracking, "red: stopped", "", production.get("reason")))
    return rows


@click.command()
@json_option("Print the numbers as a JSON array.")
@click.pass_context
def queue(ctx: click.Context, as_json: bool) -> None:
    """The issues ready to implement (read-only: what a CI fan-out runs on)."""
    from harness.cycle import ready_to_implement

    # the queue reads no mission: its sections go unchecked, as status's
    settings = target_of(ctx).settings(sections=False)
    numbers = ready_to_implement(opened(ctx, settings=settings))
    if as_json:
        click.echo(json.dumps(numbers))
    else:
        for number in numbers:
            click.echo(number)


@click.command()
@issue_argument
@click.pass_context
def retry(ctx: click.Context, number: int) -> None:
    """Re-queue a failed, needs-human or deferred issue NUMBER, with one comment on it."""
    from harness.decisions import default_actor
    from harness.retry import retry_issue

    # it calls no model: opened with the offline one, it needs no key
    services = replace(target_of(ctx), provider="scripted").services()
    said = retry_issue(services, number)
    services.store.append_event(None, "human.retry", {"issue": number, "actor": default_actor()})
    click.echo(said)


@click.command()
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@click.pass_context
def prune(ctx: click.Context, dry_run: bool) -> None:
    """Delete the local branches (and worktrees) of finished attempts: every
    factory/issue-N-… branch whose issue is closed on the forge, worktree folders (and a
    backtest's set-up trees) that killed runs left, and the folders on tmpfs older versions
    named by a hash of the state's path. A branch an open issue may still need is kept."""
    from harness.backtest.runner import left_behind
    from harness.git.worktrees import WorktreeManager, remove_legacy

    services = opened(ctx)
    state = services.settings.state_dir
    manager = WorktreeManager.of(services.repo, state)
    left = (
        []
        if dry_run
        else [*remove_legacy(state), *manager.prune(), *left_behind(services.store, state)]
    )

    @cache
    def finished(number: int) -> bool:
        return services.forge.get_issue(number).state == "closed"

    gone = manager.prune_finished(finished, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for branch in gone:
        click.echo(f"{verb} {branch}")
    if dry_run:
        click.echo(
            f"{len(gone)} branch(es) would be deleted; a run without --dry-run would remove "
            "the worktree folders killed runs left too"
        )
        return
    click.echo(f"{len(gone)} branch(es) deleted; {len(left)} leftover worktree folder(s) removed")
