"""What ``factory report`` says first about a run: its decision, PR, gates, journeys, what
each set-up reached through the egress proxy, and where the evidence lies — read from the
records its steps kept, by type (``RunRecords``), newest winning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def summary(records: RunRecords, state_dir: Path, run_id: str) -> dict[str, Any]:
    """What ``workflows/report/summary.txt.j2`` words of the run's records."""
    runs = [run for _, run in records.every(HoldoutRun) if not _earlier(run)]
    shots = next((run.shots_dir for run in reversed(runs) if run.shots_dir), None)
    kept = (shots, str(state_dir / "transcripts" / run_id))
    checked = records.newest(CheckResult)
    return {
        "decision": records.decision(),
        "pr": records.pr(),
        "gates": records.gates(),
        "journeys": next((run.journeys for run in reversed(runs) if run.journeys), []),
        "network": network_lines(records),
        "diagnosed": records.newest(Diagnosis),
        "blame": records.newest(Blame),
        "healed": records.newest(Healed),
        "validator": checked.validator if checked is not None else None,
        "refused": [
            (step.step_id, who)
            for step, run in records.every(HoldoutRun)
            for who in (run.validator.refused if run.validator is not None else [])
        ],
        "evidence": [path for path in kept if path and Path(path).exists()],
    }


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
