"""The Autonomy Index: the share of issues that went from filed to a final state with no
human action, over a window, overall and per kind of change.

Final states: merged (the merge landed and its smoke run passed) and rejected (by triage, or
by a person with ``factory reject``). An issue counts in the window when it reached its
final state inside it. A human action is any ``human.*`` event of the audit trail for the
issue (approve, reject, retry, a label set by a person): read from the hash-chained
``events`` table, never from anything a model wrote."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.implement.spec import triage_spec
from harness.review.trust import kind_of
from harness.store.base import utc_now
from harness.store.db import Store

if TYPE_CHECKING:
    from harness.engine.context import Services

HUMAN = "human."


@dataclass(frozen=True)
class KindIndex:
    finished: int
    autonomous: int

    @property
    def share(self) -> float | None:
        return round(self.autonomous / self.finished, 4) if self.finished else None


@dataclass(frozen=True)
class AutonomyIndex:
    """``overall`` is None while no issue finished in the window."""

    window_days: int
    finished: int
    autonomous: int
    by_kind: dict[str, KindIndex] = field(default_factory=dict)
    issues: dict[int, bool] = field(default_factory=dict)  # finished issue -> no human action

    @property
    def overall(self) -> float | None:
        return round(self.autonomous / self.finished, 4) if self.finished else None

    def to_json(self) -> dict[str, Any]:
        return {
            "window_days": self.window_days,
            "overall": self.overall,
            "finished": self.finished,
            "autonomous": self.autonomous,
            "by_kind": {
                kind: {"overall": k.share, "finished": k.finished, "autonomous": k.autonomous}
                for kind, k in sorted(self.by_kind.items())
            },
        }


def _finals(store: Store) -> dict[int, tuple[str, str]]:
    """issue -> (when, final state), the newest final state of each issue."""
    finals: dict[int, tuple[str, str]] = {}

    def note(issue: int | None, ts: str | None, state: str) -> None:
        if issue is not None and ts and (issue not in finals or finals[issue][0] <= ts):
            finals[issue] = (ts, state)

    for run in store.list_runs(limit=1_000_000, workflow="triage"):
        if run.status != "succeeded":
            continue
        for step in store.steps(run.id):
            applied = step.step_id == "apply" and step.status == "succeeded"
            if applied and step.outputs.get("decision") == "reject":
                note(run.issue, step.finished_at, "rejected")
    for run in store.list_runs(limit=1_000_000, workflow="validate"):
        steps = store.steps(run.id)
        merged = [s for s in steps if s.step_id == "merge" and s.status == "succeeded"]
        smoke = [s for s in steps if s.step_id == "smoke" and s.status == "succeeded"]
        if merged and smoke and not smoke[-1].outputs.get("reverted"):
            note(run.issue, smoke[-1].finished_at, "merged")
    for event in store.events():
        if event.kind == "human.reject":
            note(event.data.get("issue"), event.ts, "rejected")
    return finals


def autonomy_index_for(store: Store, days: int = 30, now: float | None = None) -> AutonomyIndex:
    end = time.time() if now is None else now
    since, until = utc_now(end - days * 86_400), utc_now(end)
    touched = {e.data.get("issue") for e in store.events() if e.kind.startswith(HUMAN)} - {None}
    kinds: dict[str, list[bool]] = {}
    issues: dict[int, bool] = {}
    for number, (ts, _) in sorted(_finals(store).items()):
        if not since <= ts <= until:
            continue
        kind = kind_of(triage_spec(store, number))
        issues[number] = number not in touched
        kinds.setdefault(kind, []).append(issues[number])
    return AutonomyIndex(
        window_days=days,
        finished=len(issues),
        autonomous=sum(issues.values()),
        by_kind={k: KindIndex(len(v), sum(v)) for k, v in kinds.items()},
        issues=issues,
    )


def autonomy_index(services: Services, days: int = 30) -> AutonomyIndex:
    return autonomy_index_for(services.store, days, services.clock())
