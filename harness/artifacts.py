"""What one workflow hands the next: typed, frozen records, looked up by type and issue.

An action that produces an artifact returns it (or a ``Produced`` with step-only extras);
the engine persists its JSON as the step's outputs and records the artifact's type next to
it, and ``Store.latest_artifact(IssueSpec, issue=N)`` finds the newest one again — never by
the id of the step that made it, so an override may name its steps as it likes. Templates
and reports keep receiving plain dicts (``model_dump()``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Artifact(BaseModel):
    """Base of every hand-off: strict (unknown keys are errors) and immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def from_outputs(cls, outputs: dict[str, Any]) -> Any:
        """The artifact inside a step's persisted outputs (which may hold step-only extras)."""
        return cls.model_validate({k: v for k, v in outputs.items() if k in cls.model_fields})


class GateResult(Artifact):
    """One gate computed in code from evidence; routing finds a gate by its name."""

    name: str
    passed: bool
    evidence: str = ""


def gates_failed(failed: list[GateResult]) -> str:
    """The one sentence that says which gates refused a change (their evidence is shown
    beside it, gate by gate)."""
    return f"gates failed: {', '.join(g.name for g in failed)}."


class IssueSpec(Artifact):
    """Triage's decision and the sanitised issue text it judged: what implementation and
    validation work from (never the live issue)."""

    number: int
    title: str = ""
    body: str = ""
    issue_sha256: str = ""
    decision: str
    reason: str | None = None
    rule: str | None = None
    kind: str | None = None
    priority: str | None = None
    acceptance_criteria: list[str] = Field(default_factory=list)
    source: str = ""


class PrCandidate(Artifact):
    """A pull request the factory opened, with the head its gates passed on and its
    provenance (the implement run and the spec it worked from)."""

    pr: int
    branch: str
    head: str  # the gated head
    base: str
    gates: list[GateResult]
    fix_attempts: int = 0
    implement_run: str
    spec: IssueSpec
    triage_run: str | None = None


class CriterionResult(Artifact):
    criterion: str
    result: str  # pass | fail | not_observable
    evidence: str = ""


class Verdict(Artifact):
    """The sealed validator's verdict, kept as given."""

    verdict: str
    score: float
    criteria: list[CriterionResult] = Field(default_factory=list)
    summary: str = ""

    @classmethod
    def of(cls, output: dict[str, Any] | None) -> Verdict | None:
        """The validator's structured output, or None when it gave none."""
        if not output:
            return None
        return cls(
            verdict=str(output.get("verdict", "none")),
            score=float(output.get("score", 0.0)),
            criteria=[
                CriterionResult(
                    criterion=str(c.get("criterion", "")),
                    result=str(c.get("result", "")),
                    evidence=str(c.get("evidence", "")),
                )
                for c in output.get("criteria", [])
                if isinstance(c, dict)
            ],
            summary=str(output.get("summary", "")),
        )


class ValidationTarget(Artifact):
    """Which PR, at which head, a validation run took up."""

    implement_run: str
    pr: int
    head: str


class Validation(Artifact):
    """A decided validation: the route, every gate, the validator's verdict and what the
    next attempt may learn from it (never a hold-out journey's content)."""

    implement_run: str
    pr: int
    route: str
    reason: str
    score: float
    verdict: str
    fix_attempts: int
    not_observable: list[str] = Field(default_factory=list)
    gates: list[GateResult]
    validator: Verdict | None = None
    journeys_passed: bool = True
    candidate: str | None = None
    production_sha: str | None = None
    conflict: str | None = None
    tests_exit_code: int | None = None
    tests_output: str = ""


ARTIFACTS: dict[str, type[Artifact]] = {
    cls.__name__: cls
    for cls in (GateResult, IssueSpec, PrCandidate, Verdict, ValidationTarget, Validation)
}


@dataclass(frozen=True)
class Produced:
    """An artifact and the step-only outputs persisted beside it (e.g. a comment's id)."""

    artifact: Artifact
    extra: dict[str, Any] = field(default_factory=dict)

    def outputs(self) -> dict[str, Any]:
        return {**self.extra, **self.artifact.model_dump(mode="json")}
