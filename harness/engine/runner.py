"""The engine: runs a workflow's steps in order, persisting each one before the next.

A run is identified by (workflow, issue). Running the same workflow for the same
issue again resumes its open run at the step it was in; finished steps are never
repeated. The kill switch is checked before every step and every model call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from pydantic import ValidationError

from harness import cpu
from harness.artifacts import Artifact, Inputs, Worktree
from harness.engine.actions import call
from harness.engine.agents import run_agent_step
from harness.engine.commands import run_command_step
from harness.engine.context import Lease, Services, StepContext
from harness.engine.killswitch import CANCEL, Driven
from harness.engine.killswitch import KILL_SWITCH as KILL_SWITCH
from harness.engine.killswitch import check_kill_switch as check_kill_switch
from harness.engine.killswitch import kill_switch_state as kill_switch_state
from harness.engine.loader import load_workflow
from harness.engine.workflow import Retry, Step, Workflow
from harness.errors import (
    BudgetExceeded,
    DeferredError,
    ErrorKind,
    FactoryError,
    QuotaError,
    StepFailed,
    StoppedError,
    stop_now,
    stopping,
)
from harness.faults import fault_point
from harness.git import integrity
from harness.git.integrity import GitIntegrityError
from harness.git.worktrees import WorktreeManager
from harness.store.records import StepRecord

ON_FAILURE = "on_failure"
LEASE_TTL_S = 4 * 3600.0  # an issue's lease, renewed by each step
A = TypeVar("A", bound=Artifact)


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended, and what its succeeded steps recorded, read by type (``artifact``)."""

    run_id: str
    workflow: str
    issue: int | None
    status: str  # succeeded | failed | stopped
    reason: str | None
    not_before: float | None = None
    kept: Mapping[str, dict[str, object]] = field(default_factory=lambda: MappingProxyType({}))

    def artifact(self, kind: type[A]) -> A | None:
        """The newest ``kind`` the run's succeeded steps recorded (None: none, or another shape)."""
        found = self.kept.get(kind.__name__)
        try:
            return kind.from_outputs(found) if found is not None else None
        except ValidationError:
            return None


class Engine:
    def __init__(self, services: Services, lease: Lease | None = None) -> None:
        self.services = services
        self.lease = lease

    # -- public ---------------------------------------------------------------
    def run(self, name: str, issue: int | None = None, inputs: Inputs | None = None) -> RunOutcome:
        """Run (or resume) workflow ``name`` for ``issue``, given its ``inputs``."""
        workflow = load_workflow(self.services, name)
        check_kill_switch(self.services)
        # a CPU slot among the process's other runs (harness/cpu.py); refuses a config that runs
        # programs; a person's cancel of the issue stops a sandboxed command at once
        with (
            cpu.working(),
            integrity.guarded(self.services.repo.path),
            stopping(partial(self.services.store.get_flag, f"{CANCEL}{issue}")),
        ):
            return self._run(workflow, name, issue, inputs)

    def end(self, run_id: str, reason: str) -> RunOutcome:
        """End an unfinished run that nothing will resume (its issue is no longer open): failed,
        with ``reason``, the step it was killed or stopped in recorded as interrupted. No step
        runs and no ``on_failure`` action either: nothing is spent or written on the issue."""
        store = self.services.store
        steps = store.steps(run_id)
        if steps and steps[-1].status == "running":
            store.finish_step(steps[-1].seq, "interrupted", {}, error=reason)
        store.set_run_status(run_id, "failed", reason=reason, event={"reason": reason})
        run = store.get_run(run_id)
        return RunOutcome(run_id, run.workflow, run.issue, "failed", reason, kept=kept(steps))

    # -- internals --------------------------------------------------------------
    def _run(
        self, workflow: Workflow, name: str, issue: int | None, inputs: Inputs | None
    ) -> RunOutcome:
        store = self.services.store
        run = store.find_open_run(name, issue)
        if run is None:
            given = inputs.model_dump(mode="json", exclude_none=True) if inputs else {}
            run = store.create_run(name, issue, given, self.services.settings.governance.hashes)
            store.append_event(run.id, "run.started", {"workflow": name, "issue": issue})
        else:
            if run.not_before and run.not_before > self.services.clock():
                return RunOutcome(
                    run.id, name, issue, "stopped", run.reason, not_before=run.not_before
                )
            store.set_run_status(run.id, "running")
            store.append_event(run.id, "run.resumed", {"workflow": name, "issue": issue})
        driven = self.services.caches.part(Driven).runs  # a second Ctrl-C ends them
        driven.add(run.id)
        try:
            return self._drive(workflow, run.id, issue, run.inputs)
        finally:
            driven.discard(run.id)

    @staticmethod
    def _history(
        steps: list[StepRecord],
    ) -> tuple[dict[str, dict[str, object]], dict[str, dict[str, object]]]:
        """The outputs of the steps that succeeded (or were skipped), and the newest failure
        of each step that failed, from the run's step records in order."""
        outputs: dict[str, dict[str, object]] = {}
        failures: dict[str, dict[str, object]] = {}
        for rec in steps:
            if rec.status in ("succeeded", "skipped"):
                outputs[rec.step_id] = rec.outputs or {}
            elif rec.status == "failed":  # newest last: a step failing again moves to the end
                failures.pop(rec.step_id, None)
                failures[rec.step_id] = {
                    **(rec.outputs or {}),
                    "error": rec.error,
                    "kind": rec.error_kind or ErrorKind.INTERNAL.value,
                }
        return outputs, failures

    def _next_index(self, workflow: Workflow, steps: list[StepRecord]) -> int | None:
        """Where to go on: derived from the step records alone, so a kill anywhere resumes right."""
        if not steps:
            return 0
        last = steps[-1]
        if last.step_id == ON_FAILURE:
            return None  # the run was ending in failure: finish that
        pos = workflow.index(last.step_id)
        if last.status in ("running", "interrupted"):
            return pos  # killed, stopped or deferred inside this step: do it again
        step = workflow.steps[pos]
        history = [s for s in steps if s.step_id == step.id]
        if last.status == "failed":
            # a gate that said no is not a failed attempt to retry: its evidence goes to a person
            if step.on_fail is not None and last.error_kind != ErrorKind.GATE.value:
                taken = sum(1 for s in history if s.status == "failed")
                if taken <= self._limit(step.on_fail, workflow):
                    return workflow.index(step.on_fail.retry_from)
            return pos + 1 if step.may_fail else None
        branch = str((last.outputs or {}).get("verdict", ""))
        loop = step.on.get(branch)
        if loop is not None:
            taken = sum(1 for s in history if (s.outputs or {}).get("verdict") == branch)
            if taken <= self._limit(loop, workflow):
                return workflow.index(loop.retry_from)
            return None
        return pos + 1 if pos + 1 < len(workflow.steps) else len(workflow.steps)

    def _limit(self, loop: Retry, workflow: Workflow) -> int:
        if isinstance(loop.max, int):
            return loop.max
        ctx = {"rules": self.services.settings.governance.rules.model_dump(mode="json")}
        return int(self.services.templates.render_string(loop.max, **ctx))

    def _drive(
        self, workflow: Workflow, run_id: str, issue: int | None, inputs: dict[str, object]
    ) -> RunOutcome:
        store = self.services.store
        steps: list[StepRecord] = []
        while True:
            # the step records decide where to go on; each step's record is read once (a
            # step that ran since is finished: only the engine of the run's lease writes it)
            steps += store.steps(run_id, after=steps[-1].seq if steps else 0)
            outputs, failures = self._history(steps)
            ctx = StepContext(
                self.services,
                run_id,
                workflow.name,
                workflow.steps[0],  # the step about to run, or the failure action's
                issue,
                inputs,
                outputs,
                failures,
                self.lease,
            )
            index = self._next_index(workflow, steps)
            if index is None:
                last = steps[-1]
                reason = self._failure_reason(workflow, last)
                if last.status != "failed" and last.step_id != ON_FAILURE:  # a loop ran out
                    failures.pop(last.step_id, None)
                    failures[last.step_id] = {"error": reason, "kind": ErrorKind.REFUSED.value}
                return self._fail(workflow, ctx, reason)
            if index >= len(workflow.steps):
                store.set_run_status(run_id, "succeeded", event={})
                found = kept(steps)
                return RunOutcome(run_id, workflow.name, issue, "succeeded", None, kept=found)
            ctx = replace(ctx, step=workflow.steps[index])
            try:
                check_kill_switch(self.services)
                stop_now()  # a person cancelled the issue
            except StoppedError as exc:
                return self._stop(ctx, str(exc))
            outcome = self._step(ctx)
            if outcome is not None:
                return outcome

    def _fail(self, workflow: Workflow, ctx: StepContext, reason: str) -> RunOutcome:
        """End ``ctx``'s run as failed, after the workflow's ``on_failure`` action (recorded,
        once) in a context of its own."""
        store = self.services.store
        run_id = ctx.run_id
        if workflow.on_failure is not None:
            ctx = replace(ctx, step=Step(id=ON_FAILURE, action=workflow.on_failure))
            ctx.timings = {"model_s": 0.0, "subprocess_s": 0.0}
            seq = store.start_step(run_id, ON_FAILURE, {"reason": reason})
            try:
                result, artifact = call(workflow.on_failure, ctx)
            except FactoryError as exc:
                self._finish(seq, "failed", {}, ctx, str(exc), kind=exc.kind)
            else:
                self._finish(seq, "succeeded", result, ctx, artifact=artifact)
        store.set_run_status(run_id, "failed", reason=reason, event={"reason": reason})
        found = kept(store.steps(run_id))
        return RunOutcome(run_id, workflow.name, ctx.issue, "failed", reason, kept=found)

    def _failure_reason(self, workflow: Workflow, last: StepRecord) -> str:
        if last.step_id == ON_FAILURE:
            return str((last.inputs or {}).get("reason", "failed"))
        if last.status == "failed":
            error = str(last.error)
            head, sep, rest = error.partition(" failed: ")  # "gates failed: x" from step gates
            if sep and head.startswith(last.step_id) and " " not in head:
                error = rest  # said once: "step gates failed: x"
            return f"step {last.step_id} failed: {error}"
        verdict = (last.outputs or {}).get("verdict")
        return f"step {last.step_id} returned {verdict!r} more often than the workflow allows"

    def _stop(self, ctx: StepContext, reason: str, not_before: float | None = None) -> RunOutcome:
        store = self.services.store
        store.set_run_status(
            ctx.run_id, "stopped", reason=reason, not_before=not_before, event={"reason": reason}
        )
        found = kept(store.steps(ctx.run_id))
        return RunOutcome(ctx.run_id, ctx.workflow, ctx.issue, "stopped", reason, not_before, found)

    def _step(self, ctx: StepContext) -> RunOutcome | None:
        """Run one step and persist its result; return an outcome if the run must end now."""
        store = self.services.store
        step = ctx.step
        if step.when is not None:
            value = self.services.templates.evaluate(step.when, **ctx.template_context())
            if not value:
                seq = store.start_step(ctx.run_id, step.id, {"when": step.when}, runs=False)
                store.finish_step(seq, "skipped", {})
                return None
        seq = store.start_step(ctx.run_id, step.id, self._inputs(ctx))
        started = time.monotonic()
        try:
            outputs, artifact = self._execute(ctx)
        except (StoppedError, DeferredError) as exc:
            self._finish(seq, "interrupted", {}, ctx, str(exc), kind=exc.kind)
            later = exc.not_before if isinstance(exc, DeferredError) else None
            return self._stop(ctx, str(exc), later)
        except (BudgetExceeded, QuotaError, GitIntegrityError) as exc:  # fatal: no retry
            # (after a GitIntegrityError the failure action may label and comment, but every
            # git command it tries is refused: the guard stays tripped)
            fatal = type(exc).__name__
            self._finish(seq, "failed", {"fatal": fatal}, ctx, str(exc), kind=exc.kind)
            failures = {k: v for k, v in ctx.failures.items() if k != step.id}
            failures[step.id] = {"error": str(exc), "fatal": fatal, "kind": exc.kind.value}
            workflow = load_workflow(self.services, ctx.workflow)
            return self._fail(workflow, replace(ctx, failures=failures), str(exc))
        except FactoryError as exc:
            evidence, typed = evidence_of(exc)
            event = {"step": step.id, "error": str(exc), "kind": exc.kind.value}
            self._finish(
                seq, "failed", evidence, ctx, str(exc), kind=exc.kind, artifact=typed, event=event
            )
            fault_point(f"{ctx.workflow}.{step.id}.failed")
            return None
        elapsed = time.monotonic() - started
        done = {"step": step.id, "duration_s": round(elapsed, 4)}
        self._finish(seq, "succeeded", outputs, ctx, artifact=artifact, event=done)
        fault_point(f"{ctx.workflow}.{step.id}.done")
        return None

    def _finish(
        self,
        seq: int,
        status: str,
        outputs: dict[str, object],
        ctx: StepContext,
        error: str | None = None,
        kind: ErrorKind | None = None,
        artifact: str | None = None,
        event: Mapping[str, object] | None = None,
    ) -> None:
        self.services.store.finish_step(
            seq,
            status,
            outputs,
            error=error,
            model_s=ctx.timings["model_s"],
            subprocess_s=ctx.timings["subprocess_s"],  # sandboxed commands; git is the engine's
            artifact=artifact,
            error_kind=kind.value if kind is not None else None,
            event=event,
        )

    def _inputs(self, ctx: StepContext) -> dict[str, object]:
        step = ctx.step
        data: dict[str, object] = {"kind": step.kind}
        if step.action:
            data["action"] = step.action
            data["params"] = step.params
        elif step.agent:
            data.update(agent=step.agent, prompt=step.prompt, tools=step.tools, output=step.output)
        else:
            data["run"] = step.run
        return data

    def _execute(self, ctx: StepContext) -> tuple[dict[str, object], str | None]:
        """The step's outputs, and the type of artifact they hold (if any)."""
        step = ctx.step
        if step.action is not None:
            return call(step.action, ctx)
        if step.agent is not None:
            return run_agent_step(ctx)
        return run_command_step(ctx), None


def kept(steps: list[StepRecord]) -> dict[str, dict[str, object]]:
    """Type name -> the newest record of that type the run's succeeded steps kept."""
    return {s.artifact: s.outputs for s in steps if s.artifact and s.status == "succeeded"}


def end_unfinished(services: Services, run_id: str, reason: str) -> None:
    """End an unfinished run nothing will resume (``Engine.end``) and remove the checkout it
    made: its branch is kept (``factory prune`` deletes it once the issue is closed)."""
    made = Engine(services).end(run_id, reason).artifact(Worktree)
    if made is not None:
        WorktreeManager.of(services.repo, services.settings.state_dir).remove(Path(made.path))


def evidence_of(exc: FactoryError) -> tuple[dict[str, object], str | None]:
    """A failed step's evidence as persisted, and its type when it is an artifact."""
    found = exc.outputs if isinstance(exc, StepFailed) else None
    if isinstance(found, Artifact):
        return found.model_dump(mode="json"), type(found).__name__
    return (dict(found) if isinstance(found, dict) else {}), None


def run_leased(
    services: Services,
    workflow: str,
    number: int,
    inputs: Inputs | None,
    after: Callable[[str], None] | None = None,
) -> RunOutcome:
    """Run (or resume) ``workflow`` about issue ``number`` under the issue's lease, held from
    its first step to its end; ``after(holder)`` runs before the lease is given back."""
    with services.store.held(number, LEASE_TTL_S) as (holder, fence):
        try:
            engine = Engine(services, Lease(number, holder, fence))
            return engine.run(workflow, number, inputs)
        finally:
            if after is not None:
                after(holder)
