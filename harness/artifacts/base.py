"""What every record is: strict, frozen, read back from the outputs a step persisted; a
workflow's inputs; a gate's result."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self, TypeVar

from pydantic import ConfigDict

from harness.checked import Evolving

__all__ = ("ANY_RUN", "A", "Artifact", "Failed", "GateResult", "Inputs")


class Artifact(Evolving):
    """Base of every record: strict (unknown keys are errors) and immutable. Each record's
    validator is built when it is first used, not when the module is imported (a process
    uses a few of them: the sealed validator three)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, object]) -> Self:
        """The record inside a step's persisted outputs (which may hold step-only extras)."""
        keys = {field.alias or name for name, field in cls.model_fields.items()}
        return cls.model_validate({k: v for k, v in outputs.items() if k in keys})


# any one record type: what a function that reads a record of the type it is given returns
A = TypeVar("A", bound=Artifact)


class Inputs(Artifact):
    """Base of a workflow's inputs, one frozen record per workflow: what its runner gives
    ``Engine.run`` (or a parent's ``workflow:`` step builds from a record) and an action that
    reads them names as its ``inputs`` parameter."""


class Failed(Artifact):
    """What a workflow's ``on_failure`` step did (``implement.fail``, ``validate.fail``): the
    label it left on the issue, and why the run failed."""

    label: str
    reason: str


class GateResult(Artifact):
    """One gate computed in code from evidence; routing finds a gate by its name."""

    name: str
    passed: bool
    evidence: str = ""


# every status a run may be in: a record counts whatever became of the run that made it
ANY_RUN = ("succeeded", "failed", "running", "stopped")
