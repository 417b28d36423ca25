"""What a step sees: the services, the run, and the outputs of earlier steps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from harness.artifacts import A, Worktree
from harness.caches import PROCESS, Caches
from harness.errors import ErrorKind, FactoryError, StepFailed
from harness.store.base import factory_now

if TYPE_CHECKING:
    from harness.config.settings import Settings
    from harness.engine.templates import Templates
    from harness.engine.workflow import Step
    from harness.forge.base import Forge
    from harness.git.repo import GitRepo
    from harness.model.base import Model
    from harness.store.db import Store
    from harness.store.records import StepRecord


@dataclass
class Services:
    """Everything the engine and its actions work with, built once per command."""

    settings: Settings
    store: Store
    forge: Forge
    model: Model
    repo: GitRepo
    templates: Templates
    clock: Callable[[], float] = factory_now
    caches: Caches = field(default_factory=lambda: PROCESS)  # shared by the process's runs
    # a rehearsal's services work on a scratch state; the factory's own state, whose kill
    # switch stops them too (``harness.backtest``)
    outer_store: Store | None = None
    # the same services for another thread: its own forge and repository handles, the store,
    # settings and caches shared (a stage's runs, K at a time)
    reopen: Callable[[], Services] | None = None
    progress: Callable[[str], None] = lambda _: None  # a command's live line, as stages go


WORKTREE_STEP = "worktree"  # agent tools and command steps work in this step's checkout
TESTED_STEP = "test"  # a fresh agent is shown the diff of the tree this step tested
SETUP_STEP = "setup"  # what this step's setup made is left out of a resumed agent's changes


@dataclass(frozen=True)
class Lease:
    """This process's claim on an issue: writes check it (fencing)."""

    issue: int
    holder: str
    fence: int


@dataclass(frozen=True)
class Failure:
    """A run's most recent failure as a failure comment takes it: the step, the kind (an
    ``ErrorKind`` value) and the error as recorded (not for the public when the kind is one
    the factory did not word for people: see ``comments/failure_reason.md.j2``)."""

    step: str
    kind: str
    error: str


@dataclass
class StepContext:
    """The state a step runs in. Actions return an artifact or a dict of outputs."""

    services: Services
    run_id: str
    workflow: str
    step: Step
    issue: int | None
    inputs: dict[str, Any]
    # the run's steps as recorded: the newest of each that succeeded (or was skipped), and the
    # newest failure of each that failed, newest last
    done: dict[str, StepRecord]
    failures: dict[str, StepRecord] = field(default_factory=dict)
    lease: Lease | None = None
    timings: dict[str, float] = field(default_factory=lambda: {"model_s": 0.0, "subprocess_s": 0.0})
    records: list[StepRecord] = field(default_factory=list)  # every one, as the engine read them

    @property
    def number(self) -> int:
        """The issue the run is about (a workflow about an issue refuses to run without one)."""
        if self.issue is None:
            raise FactoryError(f"workflow {self.workflow} is about an issue: give its number")
        return self.issue

    def check_lease(self) -> None:
        """Raise ``LeaseError`` if this process no longer holds the issue (before any write)."""
        if self.lease is not None:
            self.services.store.check_lease(self.lease.issue, self.lease.holder, self.lease.fence)

    def last_failure(self) -> Failure:
        """The run's most recent failure (``failures`` keeps them newest last)."""
        if not self.failures:
            return Failure("", "internal", "")
        step, record = next(reversed(self.failures.items()))
        return Failure(step, record.error_kind or "internal", record.error or "")

    def output(self, step: str, kind: type[A]) -> A:
        """What earlier step ``step`` of this run recorded, as a ``kind`` (the step is one the
        action ``needs``). A record that is not one fails this step in one line: a step that
        did not run, or a run recorded by a version that wrote another shape, resumed after an
        upgrade."""
        try:
            return kind.from_outputs(self.done[step].outputs if step in self.done else {})
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"])
            raise StepFailed(
                f"step {step} recorded no {kind.__name__} ({where}: {problem['msg']}); "
                "written by another version of the factory?",
                {},
                ErrorKind.INTERNAL,
            ) from exc

    def output_if_ran(self, step: str, kind: type[A]) -> A | None:
        """``output``, or None when step ``step`` did not run (a ``when:`` skipped it, or the
        workflow has no such step)."""
        found = self.done.get(step)
        return self.output(step, kind) if found and found.outputs else None

    def worktree(self) -> Worktree | None:
        """The checkout the step's tools and command work in, if the run made one."""
        return self.output_if_ran(WORKTREE_STEP, Worktree)

    def template_context(self) -> dict[str, Any]:
        settings = self.services.settings
        return {
            "inputs": self.inputs,
            "steps": {step: record.outputs for step, record in self.done.items()},
            "failures": {
                step: {
                    **record.outputs,
                    "error": record.error,
                    "kind": record.error_kind or ErrorKind.INTERNAL,
                }
                for step, record in self.failures.items()
            },
            "issue": self.inputs.get("issue", {}),
            "config": settings.config.model_dump(mode="json"),
            "commands": settings.config.commands.model_dump(mode="json"),
            "rules": settings.governance.rules.model_dump(mode="json"),
        }
