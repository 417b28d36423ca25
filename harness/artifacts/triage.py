"""Triage's records: the issue as the pre-screen read it, the agent's judgement, the spec
implementation and validation work from, the first answer to a new issue."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.artifacts.base import Artifact, Inputs

__all__ = (
    "AckInputs",
    "Acknowledgement",
    "InboxInputs",
    "IssueInputs",
    "IssueSpec",
    "Judgement",
    "Screened",
)


class IssueInputs(Inputs):
    """The inputs of a workflow about one issue that takes nothing else (``triage``), given to
    each run of a stage's ``Queue``; ``inbox``'s: the one issue it takes (None: any)."""

    number: int | None = None
    batch: bool | None = None  # its agents ask through a Message Batch (``harness.model.batch``)


class InboxInputs(Inputs):
    number: int | None = None  # the one issue it takes (None: any)
    batch_wait_s: float | None = None  # ``--batch``: how long its Message Batch is waited for


class AckInputs(Inputs):
    number: int | None = None
    triage_at: str | None = None  # when triage will judge the issue, as the comment says


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
    # criteria the app under validation cannot show, with what it lacks: the issue went to a
    # person at triage
    unobservable: list[str] = Field(default_factory=list)


class Screened(Artifact):
    """``triage.prescreen``: what the pre-screen concluded (``decision`` None: the triage
    agent judges), the issue's text as it read it, and its author."""

    decision: str | None  # reject | needs_human | deferred | None
    reason: str
    rule: str
    title: str
    body: str
    issue_sha256: str
    hidden: tuple[str, ...] = ()
    author: str = ""


class Unobservable(Artifact):
    criterion: str
    lacks: str


class Judgement(Artifact):
    """The triage agent's ``submit_triage``."""

    decision: Literal["accept", "reject", "needs_info"]
    priority: str
    kind: str
    reason: str
    rule: str | None = None
    acceptance_criteria: list[str] = Field(default_factory=list)
    unobservable: list[Unobservable] = Field(default_factory=list)


class Acknowledgement(Artifact):
    """``triage.ack``: whether a new issue got its first answer (the comment), and if not, why."""

    posted: bool
    comment_id: int | None = None
    held: str | None = None  # the pre-screen's decision the comment told of (None: none)
    why: str | None = None  # why nothing was posted
