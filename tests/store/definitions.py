"""The Autonomy Index and earned trust as they were first written: a walk over every run and
its steps in Python, slow and obviously right. The tests hold the store's fast answers to
these on the same rows."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from harness.artifacts import Prepared
from harness.config.models import Rules, TrustRule
from harness.implement.spec import triage_spec
from harness.review.trust import kind_of
from harness.store.base import utc_now
from harness.store.db import Store
from harness.store.records import StepRecord

EVERY = 1_000_000
# a run that ran other workflows, as first written: a step of it kept their runs (the store
# keeps it as a flag, ``runs.orchestrates``, set as that step's record is written)
ORCHESTRATES = (
    "EXISTS (SELECT 1 FROM steps s WHERE s.run_id = runs.id AND s.artifact IN ('Ran', 'Children'))"
)


def _finals(store: Store) -> dict[int, tuple[str, str]]:
    finals: dict[int, tuple[str, str]] = {}

    def note(issue: int | None, ts: str | None, state: str) -> None:
        if issue is not None and ts and (issue not in finals or finals[issue][0] <= ts):
            finals[issue] = (ts, state)

    for run in store.list_runs(limit=EVERY, workflow="triage"):
        if run.status != "succeeded":
            continue
        for step in store.steps(run.id):
            applied = step.step_id == "apply" and step.status == "succeeded"
            if applied and step.outputs.get("decision") == "reject":
                note(run.issue, step.finished_at, "rejected")
    for run in store.list_runs(limit=EVERY, workflow="validate"):
        steps = store.steps(run.id)
        merged = [s for s in steps if s.step_id == "merge" and s.status == "succeeded"]
        smoke = [s for s in steps if s.step_id == "smoke" and s.status == "succeeded"]
        if merged and smoke and not smoke[-1].outputs.get("reverted"):
            note(run.issue, smoke[-1].finished_at, "merged")
    for event in store.events():
        if event.kind == "human.reject":
            note(event.data.get("issue"), event.ts, "rejected")
    return finals


def _finished(store: Store) -> list[tuple[int, str, str, bool]]:
    """Every finished issue: (number, when it finished, its kind, finished without a person)."""
    touched = {e.data.get("issue") for e in store.events() if e.kind.startswith("human.")}
    return [
        (number, ts, kind_of(triage_spec(store, number)), number not in touched)
        for number, (ts, _) in sorted(_finals(store).items())
    ]


def autonomy(store: Store, days: int, now: float | None = None) -> dict[str, Any]:
    """``AutonomyIndex.to_json()`` as the first definition computed it."""
    end = time.time() if now is None else now
    return _index(_finished(store), days, end)


def _index(done: list[tuple[int, str, str, bool]], days: int, end: float) -> dict[str, Any]:
    """The index of the ``days`` up to ``end`` over the issues ``_finished`` found."""
    since, until = utc_now(end - days * 86_400), utc_now(end)
    kinds: dict[str, list[bool]] = {}
    for _, ts, kind, alone in done:
        if since <= ts <= until:
            kinds.setdefault(kind, []).append(alone)
    finished = sum(len(v) for v in kinds.values())
    autonomous = sum(sum(v) for v in kinds.values())
    return {
        "window_days": days,
        "overall": round(autonomous / finished, 4) if finished else None,
        "finished": finished,
        "autonomous": autonomous,
        "by_kind": {
            k: {"overall": round(sum(v) / len(v), 4), "finished": len(v), "autonomous": sum(v)}
            for k, v in sorted(kinds.items())
        },
    }


@dataclass(frozen=True)
class Evidence:
    ts: str
    kind: str
    what: str


def _last(steps: list[Any], step_id: str) -> Any:
    matching = [s for s in steps if s.step_id == step_id and s.status == "succeeded"]
    return matching[-1] if matching else None


def heal_reverted(store: Store, culprit: str) -> None:
    """A heal run that found ``culprit`` (a merge the factory landed) broke production and
    reverted it, as the engine records it."""
    run = store.create_run("heal", None, {}, {})
    seq = store.start_step(run.id, "act", {"kind": "action", "action": "heal.act"})
    outputs = {"outcome": "reverted", "sha": "e" * 40, "reason": "red", "culprit": culprit}
    store.finish_step(seq, "succeeded", outputs, artifact="Healed")


def _reverted(store: Store) -> dict[str, str]:
    """Merges heal reverted -> when it decided to (the factory's own records, never git's)."""
    undone: dict[str, str] = {}
    for run in store.list_runs(limit=EVERY, workflow="heal"):
        for step in store.steps(run.id):
            healed = step.artifact == "Healed" and step.status == "succeeded"
            if healed and step.outputs.get("outcome") == "reverted":
                undone[str(step.outputs.get("culprit"))] = step.finished_at or ""
    return undone


def evidence(store: Store) -> list[Evidence]:
    undone = _reverted(store)
    approved = {
        (e.data.get("issue"), e.data.get("head")): e.ts
        for e in store.events()
        if e.kind == "human.approve"
    }
    found: list[Evidence] = []
    for run in store.list_runs(limit=EVERY, workflow="validate"):
        steps = store.steps(run.id)
        prepare = _last(steps, "prepare")
        if prepare is None:
            continue
        prepared = Prepared.from_outputs(prepare.outputs)
        kind, head = kind_of(prepared.candidate.spec), prepared.head
        for failed in (s for s in steps if s.step_id == "merge" and s.status == "failed"):
            if failed.outputs.get("landed_tree"):
                found.append(Evidence(failed.finished_at or "", kind, "revert"))
        merge, smoke = _last(steps, "merge"), _last(steps, "smoke")
        if merge is None or smoke is None:
            continue
        ts = smoke.finished_at or ""
        if smoke.outputs.get("reverted"):
            found.append(Evidence(ts, kind, "regression"))
            continue
        when = approved.get((run.issue, head))
        green = when is not None and when <= ts
        found.append(Evidence(ts, kind, "approved_green" if green else "green"))
        reverted_at = undone.get(str(merge.outputs.get("merge_sha")))
        if reverted_at is not None:
            found.append(Evidence(max(reverted_at, ts), kind, "revert"))
    return sorted(found, key=lambda e: e.ts)


def _state(kind: str, rule: TrustRule, history: list[Evidence]) -> dict[str, Any]:
    earned, reset_at = 0, None
    for item in history:
        if item.kind != kind:
            continue
        if item.what == "approved_green":
            earned += 1
        elif item.what in rule.reset_on:
            earned, reset_at = 0, item.ts
    auto = rule.start == "auto" or earned >= rule.earn_after
    return {
        "kind": kind,
        "start": rule.start,
        "earn_after": rule.earn_after,
        "earned": earned,
        "auto": auto,
        "reset_at": reset_at,
        "reset_on": list(rule.reset_on),
        "from_backtest": 0,  # no backtest counts unless a maintainer says so
    }


def trust(store: Store, rules: Rules) -> list[dict[str, Any]]:
    """``[TrustState.to_json()]`` as the first definition computed them."""
    if not rules.trust:
        return []
    history = evidence(store)
    kinds = [k.removeprefix("kind:") for k in rules.trust if k != "default"]
    if "default" in rules.trust:
        kinds += sorted({e.kind for e in history} - set(kinds)) or ["default"]
    return [
        _state(kind, rule, history) for kind in kinds if (rule := rules.trust_for(kind)) is not None
    ]


def latest(steps: list[dict[str, Any]], key: str) -> Any:
    """The value of ``key`` in the newest step output that has it."""
    for step in reversed(steps):
        outputs = step.get("outputs") or {}
        if isinstance(outputs, dict) and outputs.get(key) not in (None, "", []):
            return outputs[key]
    return None


def said(store: Store, issue: int) -> dict[str, Any] | None:
    """The issue's newest run and the newest route, decision and reason its steps gave, as
    the queue first read them (each issue's runs and every step's outputs, decoded)."""
    runs = store.list_runs(limit=1, issue=issue)
    if not runs:
        return None
    steps = [{"outputs": s.outputs} for s in store.steps(runs[0].id)]
    return {
        "run_id": runs[0].id,
        "workflow": runs[0].workflow,
        "status": runs[0].status,
        "run_reason": runs[0].reason,
        **{key: latest(steps, key) for key in ("route", "decision", "reason")},
    }


def steps_since(
    store: Store, workflow: str, since: str, step_ids: tuple[str, ...]
) -> list[tuple[int | None, StepRecord]]:
    """The steps named ``step_ids`` of ``workflow``'s runs started at or after ``since``,
    each with its run's issue."""
    found = []
    for run in reversed(store.list_runs(limit=EVERY, workflow=workflow)):
        if run.started_at >= since:
            found += [(run.issue, s) for s in store.steps(run.id) if s.step_id in step_ids]
    return sorted(found, key=lambda found: found[1].seq)


def trends(store: Store, today: date, days: int = 30) -> dict[str, Any]:
    """The Trends page's numbers as they were first counted: every step of the window's
    runs decoded and walked, the index recomputed for each day (over the finished issues,
    found once: which issues finished, when, is the same whatever the day), spend read per
    issue."""
    labels = [(today - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]
    merges = dict.fromkeys(labels, 0)
    merged_issues: dict[str, set[int]] = {d: set() for d in labels}
    refusals: dict[str, int] = {}
    reverted: set[int] = set()

    def refuse(key: str) -> None:
        refusals[key] = refusals.get(key, 0) + 1

    for issue, step in steps_since(store, "validate", labels[0], ("merge", "smoke", "decide")):
        day = (step.finished_at or step.started_at)[:10]
        if step.step_id == "merge" and step.outputs.get("merge_sha") and day in merges:
            merges[day] += 1
            if issue is not None:
                merged_issues[day].add(issue)
        elif step.step_id == "smoke" and step.outputs.get("reverted") and issue is not None:
            reverted.add(issue)
            refuse("reverted on production")
        elif step.step_id == "decide" and (route := str(step.outputs.get("route") or "")):
            if route not in ("merge", "needs_review"):  # waiting for review: not refused
                refuse(f"validation: {route}")
    for _, step in steps_since(store, "triage", labels[0], ("apply",)):
        decision = str(step.outputs.get("decision") or "")
        if decision and decision != "accept":
            refuse(f"triage: {decision}")
    for _, step in steps_since(store, "implement", labels[0], ("gates",)):
        if step.status == "failed" or step.outputs.get("passed") is False:
            refuse("implementation: gates")
    cost = []
    for day in labels:
        issues = merged_issues[day] - reverted
        spent = sum(store.spend(issue=n) for n in issues)
        cost.append(round(spent / len(issues), 6) if issues else 0.0)
    ends = [datetime.fromisoformat(d).replace(tzinfo=UTC) + timedelta(days=1) for d in labels]
    done = _finished(store)
    return {
        "days": labels,
        "merges": [merges[d] for d in labels],
        "refusals": dict(sorted(refusals.items(), key=lambda kv: (-kv[1], kv[0]))),
        "cost_per_merge": cost,
        "autonomy": [_index(done, 30, end.timestamp() - 0.001)["overall"] for end in ends],
        "models": tiers(store, labels[0]),
    }


def tiers(store: Store, since: str) -> list[dict[str, Any]]:
    """Each implement attempt's model per role, by kind, and whether a validation of it
    merged, walked step by step."""
    validated = steps_since(store, "validate", "", ("prepare", "merge"))
    target = {
        s.run_id: s.outputs.get("implement_run") for _, s in validated if s.step_id == "prepare"
    }
    landed = {
        target.get(s.run_id)
        for _, s in validated
        if s.step_id == "merge" and s.status == "succeeded" and s.outputs.get("merge_sha")
    }
    tiers: dict[tuple[str, str, str], list[int]] = {}
    for _, s in steps_since(store, "implement", since, ("prepare",)):
        for role, model in (
            (s.outputs.get("models") or {}).items() if s.status == "succeeded" else []
        ):
            counts = tiers.setdefault((s.outputs.get("kind") or "unknown", role, model), [0, 0])
            counts[0] += 1
            counts[1] += s.run_id in landed
    keys = ("kind", "role", "model", "attempts", "merged")
    return [dict(zip(keys, (*key, *n), strict=True)) for key, n in sorted(tiers.items())]
