"""Typed rows the store returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from typing_extensions import TypedDict  # pydantic reads them on Python 3.11 (MCP's answers)


@dataclass(frozen=True)
class Run:
    id: str
    workflow: str
    issue: int | None
    status: str
    reason: str | None
    current_step: str | None
    not_before: float | None
    inputs: dict[str, Any]
    governance: dict[str, str]
    started_at: str
    finished_at: str | None
    parent: str | None = None  # the run whose ``workflow:`` step started it
    parent_step: str | None = None  # that step


class TierRow(TypedDict):
    """Per issue kind, role and model: the implement attempts that called it, and how many of
    their changes merged (``Store.tier_success``)."""

    kind: str
    role: str
    model: str
    attempts: int
    merged: int


@dataclass(frozen=True)
class StepRecord:
    seq: int
    run_id: str
    step_id: str
    attempt: int
    status: str  # running | succeeded | failed | skipped | interrupted
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    error: str | None
    started_at: str
    finished_at: str | None
    duration_s: float | None
    model_s: float
    subprocess_s: float
    artifact: str | None = None  # the type of hand-off its outputs hold (harness.artifacts)
    error_kind: str | None = None  # a failed step's ErrorKind


class StepEvent(TypedDict, total=False):
    """The data of a step's ``step.<status>`` event in the audit trail: the step, and its
    error and its kind (an ``ErrorKind`` value) when it failed, how long it took when it
    succeeded."""

    step: str
    error: str
    kind: str
    duration_s: float


class CallRow(TypedDict):
    """One model call as ``model_calls`` keeps it."""

    id: int
    run_id: str
    step_id: str
    ts: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    cost_usd: float
    duration_s: float
    request_sha256: str
    stop_reason: str | None
    error: str | None


class Said(TypedDict):
    """An issue's newest run, and the newest ``route``, ``decision`` and ``reason`` its steps
    gave (values as the steps recorded them)."""

    issue: int
    run_id: str
    workflow: str
    status: str
    run_reason: str | None
    route: object
    decision: object
    reason: object


@dataclass(frozen=True)
class Event:
    id: int
    run_id: str | None
    ts: str
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class KindTally:
    """What earned trust counts for one kind of change: the newest ``regression`` and
    ``revert`` (``newest``: what -> when), and how many approved changes stayed green after
    each of those moments (``approved_after``: when -> count; ``None``: all of them)."""

    kind: str
    newest: dict[str, str]
    approved_after: dict[str | None, int]
