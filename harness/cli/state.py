"""State commands: ``status``, ``runs``, ``report``, and the kill switch ``stop`` / ``resume``."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from harness.cli.common import (
    Target,
    echo_report,
    emit_json,
    json_option,
    target_of,
    terminal_safe,
)

if TYPE_CHECKING:
    from harness.store.db import Store


@click.command()
@click.option(
    "--limit",
    type=click.IntRange(1, 1_000_000),
    default=50,
    show_default=True,
    help="How many runs, newest first.",
)
@click.option("--all", "every", is_flag=True, help="Every run (no --limit).")
@json_option("Print the runs as a JSON array.")
@click.pass_context
def runs(ctx: click.Context, limit: int, every: bool, as_json: bool) -> None:
    """Run history: workflow, issue, status, cost and tokens, newest first; how many older
    runs were left out is said on standard error."""
    store = target_of(ctx).store()
    rows = store.run_rows(store.list_runs(limit=None if every else limit))
    if as_json:
        emit_json(rows)
    else:
        from harness.cli.tables import print_table  # rich: for the table alone

        print_table(
            "runs",
            (
                "id",
                "workflow",
                "issue",
                "outcome",
                "started (UTC)",
                "took",
                "cost",
                "tokens in/out",
            ),
            [_run_line(row) for row in rows],
        )
    if more := sum(store.run_counts().values()) - len(rows):
        click.echo(f"{more} older run(s) not shown: --limit N or --all shows them", err=True)


def _run_line(row: dict[str, Any]) -> tuple[object, ...]:
    """A run as the terminal shows it: compact enough for 80 columns (--json has it all)."""
    from harness.store.outcomes import shown

    started = row["started_at"] or ""
    finished = row["finished_at"] or ""
    took = ""
    if started and finished:
        seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).seconds
        took = f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
    return (
        row["id"],
        row["workflow"],
        row["issue"] if row["issue"] is not None else "",
        shown(row["outcome"], row["status"]),
        started[5:16].replace("T", " "),  # the month's day and the time: --json has the year
        took,
        f"${row['cost_usd']:.4f}",
        f"{row['input_tokens']}/{row['output_tokens']}",
    )


@click.command()
@json_option("Print the state as a JSON object.")
@click.option(
    "--window-days",
    type=click.IntRange(1, 3650),
    default=30,
    show_default=True,
    help="The Autonomy Index's window.",
)
@click.pass_context
def status(ctx: click.Context, as_json: bool, window_days: int) -> None:
    """The kill switch, runs by status, today's spend, earned trust and the Autonomy Index."""
    target = target_of(ctx)
    data = status_data(target, target.store(), window_days)
    if as_json:
        emit_json(data)
        return
    echo_report("status.txt.j2", **data)


def status_data(target: Target, store: Store, window_days: int) -> dict[str, Any]:
    """What ``factory status --json`` prints (and ``factory mcp``'s status tool answers)."""
    import time

    from harness.engine.budget import start_of_day
    from harness.engine.killswitch import KILL_SWITCH

    stopped = store.get_flag(KILL_SWITCH)
    return {
        "stopped": stopped is not None,
        "stop_reason": stopped,
        "runs": store.run_counts(),
        "outcomes": store.outcome_counts(),
        "running": store.run_rows(store.list_runs(limit=None, status="running")),
        "spend_today_usd": round(store.spend(since=start_of_day(time.time())), 6),
        "spend_total_usd": round(store.spend(), 6),
        **_review_state(target, store, window_days),
        "models": store.tier_success(),  # attempts and merges per kind, role and model
    }


def _review_state(target: Target, store: Store, days: int) -> dict[str, Any]:
    """The Autonomy Index and earned trust per kind (harness/review)."""
    from harness.config.settings import load_settings
    from harness.errors import ConfigErrors
    from harness.review.autonomy import autonomy_index_for
    from harness.review.trust import configured_states

    found: dict[str, Any] = {"autonomy_index": autonomy_index_for(store, days).to_json()}
    try:
        # trust needs no mission, nor the --provider
        settings = load_settings(target.root, target.state, sections=False)
    except ConfigErrors as exc:
        return {**found, "trust": [], "trust_error": str(exc).replace("\n", " ")}
    states = configured_states(store, settings)
    return {**found, "trust": [t.to_json() for t in states]}


# what ``factory report --json`` shows of each step, after its id
_STEP_KEYS = "attempt status started_at finished_at duration_s model_s subprocess_s error outputs"


@click.command()
@click.argument("run_id")
@json_option("Print the run and its steps as JSON.")
@click.pass_context
def report(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """One run: its steps, timings, model calls, costs and evidence."""
    from harness.cli.summary import summary
    from harness.engine.records import RunRecords
    from harness.store.outcomes import shown

    target = target_of(ctx)
    store = target.store()
    data, change, chosen = report_data(target, store, run_id)
    run = store.get_run(run_id)
    if as_json:
        emit_json(data)
        return
    by_model: dict[str, list[float]] = {}
    for call in store.calls(run_id):  # an escalated attempt's tier, and what it cost
        by_model.setdefault(str(call["model"]), []).append(float(call["cost_usd"]))
    steps = store.steps(run_id)
    echo_report(
        "report.txt.j2",
        run=run,
        data=data,
        outcome=shown(data["outcome"], run.status),
        by_model=sorted(by_model.items()),
        chosen=chosen,
        steps=steps,
        **summary(RunRecords(steps), target.state, run.id),
    )
    if change is not None:  # the change beside its gates; paged on a terminal
        head = f"change: PR {change.pr} ({change.branch}) {change.base[:12]}...{change.head[:12]}"
        click.echo_via_pager(terminal_safe(head + "\n" + change.text))


def report_data(target: Target, store: Store, run_id: str) -> tuple[dict[str, Any], Any, list[str]]:
    """What ``factory report --json`` prints (and ``factory mcp``'s report tool answers), the
    change its issue's PR holds, and the chosen tests its suite runs named."""
    from harness.artifacts import CheckResult
    from harness.engine.commands import AGENT_TESTS
    from harness.engine.records import RunRecords
    from harness.validate.suite import suite_runs

    run = store.get_run(run_id)
    steps = [
        {"step": s.step_id} | {k: getattr(s, k) for k in _STEP_KEYS.split()}
        for s in store.steps(run_id)
    ]
    change = None
    if run.issue is not None and run.workflow in ("implement", "validate"):
        from harness.review.change import change_diff

        change = change_diff(store, target.repo(), run.issue, RunRecords(store.steps(run_id)))
    suites, chosen = suite_runs(store, run.issue, run_id)
    data = {**store.run_rows([run])[0], "governance": run.governance, "steps": steps}
    # the sealed validator's verdict, criterion by criterion, with the observations it cites
    checked = RunRecords(store.steps(run_id)).newest(CheckResult)
    judged = checked.validator.by_criterion() if checked and checked.validator else None
    data |= {"validator": judged}
    ran = [e.data["suite"] for e in store.events(run_id, AGENT_TESTS)]  # the implementer's
    data |= {"agent_tests": {"touched": len(ran) - sum(ran), "suite": sum(ran)}}
    return data | {"diff": change.text if change else None, "suite_runs": suites}, change, chosen


GITHUB_SWITCH = "FACTORY_ENABLED"
_GITHUB_HELP = (
    "Also set the repository variable FACTORY_ENABLED that every job of the GitHub Actions "
    "workflows checks first (needs GITHUB_TOKEN with permission to edit variables)."
)


def _flip_github(target: Target, enabled: bool) -> str:
    from harness.config.settings import load_settings

    forge = target.github_forge(load_settings(target.root, target.state))
    forge.set_variable(GITHUB_SWITCH, "true" if enabled else "false")
    return f"; {forge.repository}: {GITHUB_SWITCH}={'true' if enabled else 'false'}"


@click.command()
@click.option("--reason", default="stopped by a maintainer", show_default=True)
@click.option("--github", "on_github", is_flag=True, help=_GITHUB_HELP)
@click.pass_context
def stop(ctx: click.Context, reason: str, on_github: bool) -> None:
    """Engage the kill switch: no workflow starts another step until 'factory resume'."""
    from harness.engine.killswitch import engage_kill_switch, stop_reason

    reason = stop_reason("--reason", reason)
    target = target_of(ctx)
    engage_kill_switch(target.store(), reason)
    remote = _flip_github(target, False) if on_github else ""
    click.echo(f"factory stopped: {reason}{remote}")


@click.command()
@click.option("--github", "on_github", is_flag=True, help=_GITHUB_HELP)
@click.pass_context
def resume(ctx: click.Context, on_github: bool) -> None:
    """Release the kill switch."""
    target = target_of(ctx)
    remote = _flip_github(target, True) if on_github else ""
    from harness.engine.killswitch import release_kill_switch

    release_kill_switch(target.store())
    click.echo(f"factory resumed{remote}")
