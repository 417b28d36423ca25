"""What ``factory report`` says first about a run: its decision, PR, gates, journeys, what
each set-up reached through the egress proxy, and where the evidence lies — read from the
records its steps kept, by type (``RunRecords``), newest winning."""

from __future__ import annotations

from pathlib import Path

from harness.artifacts import (
    Artifact,
    Baseline,
    Blame,
    CheckResult,
    Diagnosis,
    Healed,
    Health,
    HoldoutRun,
    SetupRun,
)
from harness.engine.records import RunRecords
from harness.paths import workflows_dir


def summary_lines(records: RunRecords, state_dir: Path, run_id: str) -> list[str]:
    """The lines ``workflows/report/summary.txt.j2`` makes of the run's records."""
    import jinja2

    from harness.cli.common import terminal_safe

    runs = [run for _, run in records.every(HoldoutRun) if not _earlier(run)]
    shots = next((run.shots_dir for run in reversed(runs) if run.shots_dir), None)
    kept = (shots, str(state_dir / "transcripts" / run_id))
    checked = records.newest(CheckResult)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(workflows_dir() / "report"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 (plain text for a terminal, not HTML)
    )
    env.filters["terminal_safe"] = terminal_safe
    text = env.get_template("summary.txt.j2").render(
        decision=records.decision(),
        pr=records.pr(),
        gates=records.gates(),
        journeys=next((run.journeys for run in reversed(runs) if run.journeys), []),
        network=network_lines(records),
        diagnosed=records.newest(Diagnosis),
        blame=records.newest(Blame),
        healed=records.newest(Healed),
        validator=checked.validator if checked is not None else None,
        refused=[
            (step.step_id, who)
            for step, run in records.every(HoldoutRun)
            for who in (run.validator.refused if run.validator is not None else [])
        ],
        evidence=[path for path in kept if path and Path(path).exists()],
    )
    # every line the template writes ends in a newline; split at those alone (a record's text
    # may hold other characters str.splitlines cuts at)
    return text.split("\n")[:-1]


def network_lines(records: RunRecords) -> list[str]:
    """Every step that ran ``commands.setup`` in this run: its connections (allowed and
    refused, host, port, bytes); a result kept from an earlier run made none."""
    lines: list[str] = []
    for step, found in records.found:
        kinds = (SetupRun, HoldoutRun, Health)
        if not isinstance(found, kinds) or found.network is None or _earlier(found):
            continue
        first, *rest = found.network.lines()
        lines += [f"{first} — step {step.step_id}", *rest]
    return lines


def _earlier(found: Artifact) -> bool:
    """A result kept from an earlier run: that run's journeys and connections, not this one's."""
    return isinstance(found, (Baseline, Health)) and found.cached
