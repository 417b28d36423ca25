"""The records of the workflows that run workflows: a stage's queue, and a ``workflow:``
step's child runs."""

from __future__ import annotations

from pydantic import Field

from harness.artifacts.base import Artifact, Inputs

__all__ = ("Children", "CycleInputs", "Queue", "Ran")


class CycleInputs(Inputs):
    max_parallel: int | None = None  # ``factory run --max-parallel`` (else factory.yaml's)


class Queue(Artifact):
    """The issues a stage of a cycle takes, in order, ``width`` at a time: one child run each
    (a ``workflow:`` step's ``each``); one at a time, none starts after one stopped, but in a
    ``batch``, whose runs each stop at a request queued for it."""

    issues: list[int]
    width: int = 1
    batch: bool = False  # the runs' ``IssueInputs.batch``


class Ran(Artifact):
    """A child workflow's run as its parent's ``workflow:`` step keeps it: how it ended (no
    ``run_id`` when it could not start: ``refused`` or ``stopped``, with the reason)."""

    workflow: str
    issue: int | None = None
    run_id: str = ""
    status: str
    reason: str | None = None


class Children(Artifact):
    """A ``workflow:`` step's runs, one per issue, in order, and the issues no longer open
    whose unfinished runs it ended instead of resuming them."""

    runs: list[Ran]
    ended: list[int] = Field(default_factory=list)
