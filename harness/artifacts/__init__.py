"""What the rooms hand out: typed, frozen records, one type per fact, looked up by type —
never by the id of the step that made it (docs/architecture.md, "What flows between
workflows"). One module per workflow's records (``base``: what every record is; ``verdict``:
the sealed validator's answer); this face names them all, and builds the registries once
every module is imported."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from harness.artifacts.audit import (
    Analysed,
    AnalyserFinding,
    Audited,
    AuditInputs,
    AuditorFinding,
    Found,
)
from harness.artifacts.base import ANY_RUN, Artifact, GateResult, Inputs
from harness.artifacts.cycle import Children, CycleInputs, Queue, Ran
from harness.artifacts.implement import (
    Assignment,
    ChangeInputs,
    Coded,
    Commit,
    Connection,
    Finding,
    GateReport,
    Implemented,
    NetworkRecord,
    Plan,
    PrCandidate,
    PreviousAttempt,
    Review,
    SetupRun,
    Tested,
    Worktree,
)
from harness.artifacts.lessons import (
    Citation,
    GovernanceEdit,
    Lesson,
    LessonBranch,
    Proposal,
    Rehearsal,
)
from harness.artifacts.production import (
    Blame,
    Diagnosis,
    Healed,
    HealInputs,
    Health,
    Look,
    Probe,
    Production,
    ProductionInputs,
)
from harness.artifacts.triage import (
    AckInputs,
    Acknowledgement,
    IssueInputs,
    IssueSpec,
    Judgement,
    Screened,
    Unobservable,
)
from harness.artifacts.validate import (
    Baseline,
    CheckResult,
    HoldoutRun,
    Landing,
    Prepared,
    Routing,
    Smoke,
    ValidateInputs,
    Validation,
    ValidationTarget,
)
from harness.artifacts.verdict import (
    CriterionResult,
    KeptVerdict,
    Regression,
    ValidatorRun,
    Verdict,
    criterion_ids,
)


def _kinds(cls: type[Artifact]) -> list[type[Artifact]]:
    return [cls, *(k for sub in cls.__subclasses__() for k in _kinds(sub))]


# every record type of this package by name, as a step's ``steps.artifact`` names it
ARTIFACTS: Mapping[str, type[Artifact]] = MappingProxyType(
    {k.__name__: k for k in _kinds(Artifact)[1:]}
)

# the agents' output tools whose input is a record of its own
OUTPUT_TOOLS: Mapping[str, type[Artifact]] = MappingProxyType(
    {
        "submit_triage": Judgement,
        "submit_plan": Plan,
        "finish": Implemented,
        "submit_review": Review,
        "submit_governance_edit": GovernanceEdit,
        "submit_findings": Audited,
    }
)

__all__ = (
    "ANY_RUN",
    "ARTIFACTS",
    "OUTPUT_TOOLS",
    "AckInputs",
    "Acknowledgement",
    "Analysed",
    "AnalyserFinding",
    "Artifact",
    "Assignment",
    "AuditInputs",
    "Audited",
    "AuditorFinding",
    "Baseline",
    "Blame",
    "ChangeInputs",
    "CheckResult",
    "Children",
    "Citation",
    "Coded",
    "Commit",
    "Connection",
    "CriterionResult",
    "CycleInputs",
    "Diagnosis",
    "Finding",
    "Found",
    "GateReport",
    "GateResult",
    "GovernanceEdit",
    "HealInputs",
    "Healed",
    "Health",
    "HoldoutRun",
    "Implemented",
    "Inputs",
    "IssueInputs",
    "IssueSpec",
    "Judgement",
    "KeptVerdict",
    "Landing",
    "Lesson",
    "LessonBranch",
    "Look",
    "NetworkRecord",
    "Plan",
    "PrCandidate",
    "Prepared",
    "PreviousAttempt",
    "Probe",
    "Production",
    "ProductionInputs",
    "Proposal",
    "Queue",
    "Ran",
    "Regression",
    "Rehearsal",
    "Review",
    "Routing",
    "Screened",
    "SetupRun",
    "Smoke",
    "Tested",
    "Unobservable",
    "ValidateInputs",
    "Validation",
    "ValidationTarget",
    "ValidatorRun",
    "Verdict",
    "Worktree",
    "criterion_ids",
)
