"""Production's records: its health, and heal's diagnosis, bisect and what it did (docs/heal.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.artifacts.base import Artifact, Inputs
from harness.artifacts.implement import NetworkRecord

__all__ = (
    "Blame",
    "Diagnosis",
    "HealInputs",
    "Healed",
    "Health",
    "Look",
    "Probe",
    "Production",
    "ProductionInputs",
)


class HealInputs(Inputs):
    health_run: str  # the red health run
    sha: str  # the production commit it found red


class ProductionInputs(Inputs):
    """The ``production`` workflow's: the production commit it checks (a heal under way for
    another commit is ended: production moved on); ``culprit``: not checked again, the revert
    of the commit an earlier heal blamed, on the regression issue it filed (GitHub's heal job,
    docs/heal.md#on-github-actions)."""

    sha: str
    culprit: str | None = None


class Health(Artifact):
    """Production's own health: its tests and the hold-out on the production commit."""

    production_sha: str
    green: bool
    tests_exit_code: int | None = None
    journeys_failed: int = 0
    journeys: int = 0  # how many ran
    cached: bool = False
    skipped: str | None = None
    network: NetworkRecord | None = None  # this run's setup connections (none when cached)


class Look(Artifact):
    """``heal.look``: whether production's health is checked now (``check``): not when its tree
    is known ``green`` (under this hold-out, or with no app to check), nor while heal's revert
    for issue ``reverting`` waits for validation."""

    check: bool
    green: bool = False
    reverting: int | None = None


class Production(Artifact):
    """``heal.state``: production's health before a cycle works (``factory health --json``):
    the health run; when red, what heal made of it: its run, its ``outcome``, the issue a
    person reads (``tracking``) or the regression issue whose revert is in the merge queue
    (``reverting``); ``warning``: green, but its setup asked for hosts the egress proxy
    refused."""

    green: bool
    run_id: str | None = None
    reason: str | None = None
    heal: str | None = None
    outcome: str | None = None
    tracking: str | None = None
    reverting: int | None = None
    culprit: str | None = None  # the commit heal blamed
    warning: str | None = None


class Probe(Artifact):
    """Heal's checks run on one commit (``harness.heal.checks``): those that failed, or why
    none could be judged (set-up, the app, the browser, a time limit)."""

    sha: str
    failed: list[str]
    environment: str | None = None
    alone: bool = False  # the tests by their ids (``commands.test_files``), not the whole suite


class Diagnosis(Artifact):
    """``heal.diagnose``: the checks that failed in the red ``health_run``, run ``again`` on
    the same commit (``flaky``: those that passed then, and those heal recorded flaky before,
    which no bisect follows)."""

    sha: str
    health_run: str
    verdict: Literal["flaky", "environment", "regression"]
    checks: list[str]
    flaky: list[str] = Field(default_factory=list)
    again: Probe | None = None
    reason: str = ""
    output: str = ""  # the tests' output in the red run (capped)


class Blame(Artifact):
    """``heal.bisect``: the oldest first-parent commit on which the checks fail (``probes``,
    in order) after ``green``; a merge the factory landed for ``issue`` (or of a revert), any
    other commit (``maintainer``), or none: not reproducible."""

    red: str
    green: str | None = None
    culprit: str | None = None
    culprit_kind: Literal["factory", "revert", "maintainer", "none"] = "none"
    issue: int | None = None
    commits: int = 0  # first-parent commits after the green end, up to the red one
    probes: list[Probe] = Field(default_factory=list)
    alone: bool = False  # its tests probed alone, by their ids: they fail so on the red commit


class Healed(Artifact):
    """``heal.act``: what became of red production ``sha`` (docs/heal.md); ``chain``: the heal
    attempts of one line of fixes."""

    outcome: Literal["reverted", "flaky", "environment", "needs_human"]
    sha: str  # the red production commit
    reason: str
    culprit: str | None = None
    culprit_issue: int | None = None
    regression_issue: int | None = None
    person_issue: int | None = None
    chain: int = 0
    flaky: list[str] = Field(default_factory=list)  # the checks it counted a flake of

    @property
    def issues(self) -> list[int]:
        """The issues it filed or left to a person."""
        return sorted({n for n in (self.regression_issue, self.person_issue) if n})
