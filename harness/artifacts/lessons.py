"""The lessons workflow's records: citations, lessons, the learner's edit, its rehearsal and
its pull request (docs/learning.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.artifacts.base import Artifact

__all__ = ("Citation", "GovernanceEdit", "Lesson", "LessonBranch", "Proposal", "Rehearsal")


class Citation(Artifact):
    """One piece of evidence of a lesson (``harness.lessons``): where it was recorded (a run's
    step, or an audit-trail event), what it is about (``gate:…``, ``file:…``, ``finding:…``,
    ``rule:…``, ``decision:…``), the file, line and rule it names, its words as recorded, and
    why it no longer holds on production (``stale``)."""

    ref: str
    issue: int | None = None
    source: str  # review | gate | validation | maintainer
    about: str
    file: str | None = None
    line: int | None = None
    rule: str | None = None
    words: str = ""
    stale: str | None = None


class Lesson(Artifact):
    """Citations about one thing; ``independent``: distinct issues among the live ones."""

    about: str
    citations: list[Citation]
    independent: int = 0
    stale: bool = False
    proposal: str | None = None  # open | merged | closed: its newest PR; no edit: the learner's
    proposable: bool = False


class GovernanceEdit(Artifact):
    """The learner's ``submit_governance_edit``: one small replacement in one governance file."""

    file: Literal["factory_rules.md", "CLAUDE.md"]
    old_text: str
    new_text: str
    title: str
    why: str


class LessonBranch(Artifact):
    """``lessons.branch``: the learner's edit committed at ``head`` on the lesson's own
    ``branch``."""

    branch: str
    head: str


class Rehearsal(Artifact):
    """``factory backtest`` of a proposal on production's governance, then on its branch's:
    the second's rows (``changed``: the decisions that moved) and each one's summary."""

    backtests: list[str]
    cases: list[dict[str, object]] = Field(default_factory=list)
    before: dict[str, object] = Field(default_factory=dict)
    after: dict[str, object] = Field(default_factory=dict)
    stopped: str | None = None
    few: str | None = None  # fewer past cases touch the lesson's cause than lessons.cases


class Proposal(Artifact):
    """``lessons.open_pr``: a lesson's edit on ``branch``, pull request ``pr``, for the live
    citations ``cited``; the factory never merges it."""

    about: str
    cited: list[str]
    branch: str
    pr: int
    rehearsal: Rehearsal
    base: str = ""  # the edit's commit is ``head``, made on production's ``base``
    head: str = ""
