"""What ``factory report`` says first about a run: its decision, PR, gates, journeys, what
each set-up reached through the egress proxy, and where the evidence lies — read from what
its steps recorded, newest record winning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.artifacts import NetworkRecord


def _latest(steps: list[dict[str, Any]], key: str) -> Any:
    """The value of ``key`` in the newest step output that has it (a failed step's evidence
    counts: a refused gate is recorded there)."""
    for step in reversed(steps):
        outputs = step.get("outputs") or {}
        if isinstance(outputs, dict) and outputs.get(key) not in (None, "", []):
            return outputs[key]
    return None


def summary_lines(steps: list[dict[str, Any]], state_dir: Path, run_id: str) -> list[str]:
    lines: list[str] = []
    decision = _latest(steps, "route") or _latest(steps, "decision")
    if decision:
        lines.append(f"decision: {decision}")
    if (pr := _latest(steps, "pr")) is not None:
        lines.append(f"PR: {pr}")
    gates = _latest(steps, "gates") or []
    if gates:
        lines.append("gates:")
        lines += [
            f"  {'PASS' if g.get('passed') else 'FAIL'}  {g.get('name')}: {g.get('evidence')}"
            for g in gates
        ]
    journeys = _latest(steps, "journeys") or []
    if journeys:
        lines.append("journeys:")
        for j in journeys:
            state = "PASS" if j.get("passed") else f"FAIL at step {j.get('failed_step')}"
            line = f"  {state}  {j.get('name')} ({j.get('duration_s', 0):.1f}s)"
            if not j.get("passed") and j.get("actual"):
                line += f": {j.get('actual')}"
            lines.append(line)
            if j.get("screenshot"):
                lines.append(f"        screenshot: {j['screenshot']}")
    lines += network_lines(steps)
    evidence = [
        path
        for path in (
            _latest(steps, "shots_dir"),
            str(state_dir / "transcripts" / run_id),
        )
        if path and Path(path).exists()
    ]
    if evidence:
        lines.append("evidence: " + ", ".join(evidence))
    return lines


def network_lines(steps: list[dict[str, Any]]) -> list[str]:
    """Every step that ran ``commands.setup`` in this run: its connections (allowed and
    refused, host, port, bytes)."""
    lines: list[str] = []
    for step in steps:
        outputs = step.get("outputs") or {}
        if not isinstance(outputs, dict) or not outputs.get("network") or outputs.get("cached"):
            continue
        try:
            record = NetworkRecord.model_validate(outputs["network"])
        except ValidationError:
            continue
        first, *rest = record.lines()
        lines += [f"{first} — step {step.get('step')}", *rest]
    return lines
