"""The validate workflow's records: the change it took up, the hold-out's runs on production
and on the candidate, the route decided, the landing and the smoke run after it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

from pydantic import Field

from harness.artifacts.base import Artifact, GateResult, Inputs
from harness.artifacts.browser import JourneyResult
from harness.artifacts.implement import NetworkRecord, PrCandidate, Tested
from harness.artifacts.verdict import ValidatorRun, Verdict

__all__ = (
    "Baseline",
    "CheckResult",
    "HoldoutRun",
    "Landing",
    "Prepared",
    "Routing",
    "Smoke",
    "ValidateInputs",
    "Validation",
    "ValidationTarget",
)


class ValidateInputs(Inputs):
    number: int | None = None
    rehearsal: bool = False  # a backtest's: decided, never merged


class ValidationTarget(Artifact):
    """Which PR, at which head, a validation run took up."""

    implement_run: str
    pr: int
    head: str


class Prepared(ValidationTarget):
    """``validate.prepare``'s record: the target, and the ``PrCandidate`` it came from, whole."""

    candidate: PrCandidate

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, object]) -> Self:
        if "candidate" not in outputs and isinstance(spec := outputs.get("spec"), dict):
            # recorded before the candidate was kept whole: its fields spread out, its base
            # branch (which validation never reads) not kept
            spec, fix_attempts = dict(spec), outputs.get("fix_attempts", 0)
            candidate = {k: outputs[k] for k in ("pr", "branch", "gates", "implement_run")}
            candidate.update(head=outputs["gated_head"], base="", fix_attempts=fix_attempts)
            candidate.update(triage_run=spec.pop("triage_run", None), spec=spec)
            outputs = {**outputs, "candidate": candidate}
        return super().from_outputs(outputs)


class HoldoutRun(Artifact):
    """The hold-out's journeys on one commit, each on a fresh app of its own; when asked, the
    tests and the sealed validator on it too."""

    sha: str
    tree: str
    journeys: list[JourneyResult]
    journeys_passed: bool
    ports: list[int] = Field(default_factory=list)
    shots_dir: str = ""
    setup_offline_for: list[str] = Field(default_factory=list)  # the change touched these
    # what the change's set-up installed that production's did not, each with its file
    setup_installs: list[str] = Field(default_factory=list)
    network: NetworkRecord | None = None  # setup's connections through the egress proxy
    tests: Tested | None = None
    # a bug fix's tests on production's code (the change's test files only): they must fail
    tests_before: Tested | None = None
    validator: ValidatorRun | None = None


class BuiltOn(HoldoutRun):
    """A hold-out run of a change's validation, and what its candidate is built on: ``base``,
    production with the changes ahead in the merge queue merged in (the issues in
    ``queued``), or production itself (``production_sha``; ``base`` None) when none is
    ahead."""

    production_sha: str
    base: str | None = None
    queued: list[int] = Field(default_factory=list)

    @property
    def builds_on(self) -> str:
        return self.base or self.production_sha


class Baseline(BuiltOn):
    """Calibration: the hold-out on production (``sha``: the commit of the same tree it was
    computed on, ``cached`` when it was known already); the candidate will be built on
    ``base`` (``BuiltOn``)."""

    cached: bool = False


class CheckResult(BuiltOn):
    """``validate.check``: tests, journeys and the validator on the candidate (``sha``:
    production with the PR head merged in). On a ``conflict`` nothing was built or run:
    ``sha`` and ``tree`` are production's, no journey ran, and ``validator`` is the verdict
    the same head was given on an earlier candidate, if it had one (kept as given).
    ``works_before``: the numbers of the validator's observations that failed on the
    candidate and worked when the harness did its actions again on what the candidate
    builds on (``harness.validate.actions.check``)."""

    head: str
    conflict: str | None = None
    tests_lost: list[str] = Field(default_factory=list)  # existing tests removed or emptied
    bug_tests: list[str] | None = None  # a bug fix's test files with a test (None: not a bug)
    works_before: list[int] = Field(default_factory=list)

    @property
    def candidate(self) -> str | None:
        return None if self.conflict else self.sha

    @property
    def verdict(self) -> Verdict | None:
        return self.validator.output if self.validator is not None else None


class Routing(Artifact):
    """Where a validated change goes, and why, decided in code from the evidence
    (``harness.validate.route``): merge | needs_review | holdout_conflict | needs_human |
    retry | failed. ``score`` is the validator's own, kept as given whatever else failed."""

    route: str
    reason: str
    score: float
    verdict: str
    gates: list[GateResult]
    fix_attempts: int
    not_observable: list[str] = Field(default_factory=list)
    rule: str = ""  # the rule that decided the route, as its comment cites it


class Validation(Routing):
    """A decided validation: its routing, the validator's verdict, the comment that said so
    and what the next attempt may learn from it (never a hold-out journey's content)."""

    implement_run: str
    pr: int
    validator: Verdict | None = None
    journeys_passed: bool = True
    candidate: str | None = None
    production_sha: str | None = None
    conflict: str | None = None
    tests_exit_code: int | None = None
    tests_output: str = ""
    comment: str = ""
    holdout: str | None = None  # the hold-out's digest it was judged by (never its content)


class Landing(Artifact):
    """A change the factory merged: production's ``branch`` now holds ``merge_sha``, whose
    tree is exactly the tree the candidate's tests and journeys passed on."""

    issue: int
    pr: int
    head: str
    branch: str
    merge_sha: str
    tested_tree: str
    landed_tree: str
    tested_by: str | None = None  # the run whose tests passed on the tree: this, or one reused


class Smoke(HoldoutRun):
    """The hold-out on production after a merge (``sha``: the merge); a failure was
    reverted by ``reverted`` (or production had moved on and was left alone: the sha
    it moved to)."""

    reverted: str | None = None
