"""A run's records read by type (``RunRecords``), and what a step made: a record with the
step-only outputs the engine persists beside it (``Produced``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic

from pydantic import ValidationError

from harness.artifacts import (
    ARTIFACTS,
    A,
    Artifact,
    Assignment,
    GateReport,
    GateResult,
    HoldoutRun,
    IssueSpec,
    Landing,
    PrCandidate,
    Routing,
    Tested,
    Validation,
    ValidationTarget,
)
from harness.store.records import StepRecord


class RunRecords:
    """What a run's steps recorded, read by the type each was recorded as: a succeeded step's
    record and a failed step's typed evidence, in order (one that no longer reads as its type
    is left out). Reports and pages read a run through it, never a step by its id."""

    def __init__(self, steps: Iterable[StepRecord]) -> None:
        self.found: list[tuple[StepRecord, Artifact]] = []
        for step in steps:
            kind = ARTIFACTS.get(step.artifact or "")
            if kind is None or step.status not in ("succeeded", "failed"):
                continue
            try:
                self.found.append((step, kind.from_outputs(step.outputs)))
            except ValidationError:
                continue

    def every(self, kind: type[A]) -> list[tuple[StepRecord, A]]:
        """Each ``kind`` (its subclasses too) with the step that recorded it, oldest first."""
        return [(step, found) for step, found in self.found if isinstance(found, kind)]

    def newest(self, kind: type[A]) -> A | None:
        found = self.every(kind)
        return found[-1][1] if found else None

    def tested(self) -> list[Tested]:
        """Every test run the run's steps recorded (the whole suite or chosen tests)."""
        found: list[Tested] = []
        for _, a in self.found:
            held = [a.tests, a.tests_before] if isinstance(a, HoldoutRun) else [a]
            found += [t for t in held if isinstance(t, Tested)]
        return found

    def pr(self) -> int | None:
        """The pull request the run worked on (opened, validated or merged)."""
        kinds = (PrCandidate, ValidationTarget, Validation, Landing)
        return next((a.pr for _, a in reversed(self.found) if isinstance(a, kinds)), None)

    def gates(self) -> list[GateResult]:
        """The newest gates the run computed (implement's, or validation's)."""
        kinds = (GateReport, PrCandidate, Routing)
        found = [a.gates for _, a in self.found if isinstance(a, kinds) and a.gates]
        return found[-1] if found else []

    def judged(self) -> list[tuple[StepRecord, IssueSpec]]:
        """Triage's decisions the run recorded itself (an implement run's ``Assignment`` holds
        one as the spec it works from: not a decision of that run's)."""
        return [(s, a) for s, a in self.every(IssueSpec) if not isinstance(a, Assignment)]

    def decision(self) -> str | None:
        """Validation's route, else triage's decision."""
        routed, judged = self.newest(Routing), self.judged()
        return routed.route if routed else judged[-1][1].decision if judged else None


@dataclass(frozen=True)
class Produced(Generic[A]):
    """What a step made, as the engine persists it: an artifact and the step-only outputs
    persisted beside it (e.g. a comment's id); an action returning one says which record:
    ``-> Produced[IssueSpec]``. With no artifact, every output is the step's own (a command's,
    an untyped action's or agent's, a failure's evidence)."""

    artifact: A | None
    extra: dict[str, object] = field(default_factory=dict)

    def outputs(self) -> dict[str, object]:
        made = self.artifact.model_dump(mode="json") if self.artifact is not None else {}
        return {**self.extra, **made}

    @property
    def kind(self) -> str | None:
        """The type of artifact the outputs hold (``steps.artifact``), if any."""
        return type(self.artifact).__name__ if self.artifact is not None else None
