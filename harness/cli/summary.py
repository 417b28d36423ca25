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
    RunRecords,
    SetupRun,
)


def summary_lines(records: RunRecords, state_dir: Path, run_id: str) -> list[str]:
    lines: list[str] = []
    decision = records.decision()
    if decision:
        lines.append(f"decision: {decision}")
    pr = records.pr()
    if pr is not None:
        lines.append(f"PR: {pr}")
    gates = records.gates()
    if gates:
        lines.append("gates:")
        lines += [f"  {'PASS' if g.passed else 'FAIL'}  {g.name}: {g.evidence}" for g in gates]
    runs = [run for _, run in records.every(HoldoutRun) if not _earlier(run)]
    journeys = next((run.journeys for run in reversed(runs) if run.journeys), [])
    if journeys:
        lines.append("journeys:")
        for j in journeys:
            state = "PASS" if j.passed else f"FAIL at {j.failed_at}"
            line = f"  {state}  {j.name} ({j.duration_s:.1f}s)"
            if not j.passed and j.actual:
                line += f": {j.actual}"
            lines.append(line)
            if j.screenshot:
                lines.append(f"        screenshot: {j.screenshot}")
    lines += network_lines(records) + heal_lines(records) + validator_lines(records)
    for step, run in records.every(HoldoutRun):
        refused = run.validator.refused if run.validator is not None else []
        lines += [
            f"seal: REFUSED a connection to its {who} — step {step.step_id}" for who in refused
        ]
    shots = next((run.shots_dir for run in reversed(runs) if run.shots_dir), None)
    kept = (shots, str(state_dir / "transcripts" / run_id))
    evidence = [path for path in kept if path and Path(path).exists()]
    if evidence:
        lines.append("evidence: " + ", ".join(evidence))
    return lines


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


def heal_lines(records: RunRecords) -> list[str]:
    """A heal: its diagnosis, the bisect's checks and culprit, what it did."""
    diagnosed = records.newest(Diagnosis)
    blame = records.newest(Blame)
    healed = records.newest(Healed)
    lines = [f"diagnosis: {diagnosed.verdict}: {', '.join(diagnosed.checks)}"] if diagnosed else []
    if blame is not None:
        issue = f" (issue {blame.issue})" if blame.issue else ""
        lines.append(f"culprit: {blame.culprit_kind} {(blame.culprit or '')[:12]}{issue}")
        lines += [f"  {p.sha[:12]} {'fails' if p.failed else 'passes'}" for p in blame.probes]
    return lines + ([f"healed: {healed.outcome}: {healed.reason}"] if healed else [])


def validator_lines(records: RunRecords) -> list[str]:
    """The sealed validator's verdict criterion by criterion, each with the observations it
    cites (the action, its input, the status it saw, what it saw: one line each, bounded),
    then what it saw broken that the issue did not ask to change."""
    from harness.cli.common import terminal_safe

    checked = records.newest(CheckResult)
    run = checked.validator if checked is not None else None
    if run is None or run.output is None:
        return []
    again = f"; sent back once: {run.sent_back.split('. ')[0]}" if run.sent_back else ""
    lines = [f"validator: {run.output.verdict}, score {run.output.score:.2f}{again}"]
    for row in run.by_criterion():
        said = f" — {row['evidence']}" if row["evidence"] else ""
        lines.append(f"  {row['criterion']} {row['result']}: {row['text'] or 'the issue'}{said}")
        for seen in row["cited"]:
            status = "error" if seen["error"] else f"HTTP {seen['status'] or '-'}"
            excerpt = " ".join(seen["excerpt"].split())[:200]
            action = f"#{seen['number']} {seen['tool']} {seen['input']}"
            lines.append(f"    {action} {status}: {excerpt}")
    lines += [f"  regression: {r.what} (#{r.observations})" for r in run.output.regressions]
    return [terminal_safe(line) for line in lines]
