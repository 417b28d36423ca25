"""The engine: runs a workflow's steps in order, persisting each one before the next.

A run is identified by (workflow, issue). Running the same workflow for the same
issue again resumes its open run at the step it was in (asked with other inputs, that run is
ended and a new one starts); finished steps are never repeated. A ``workflow:`` step runs
child workflows, each run named by its parent's run and step: the parent resumed after a kill
reads back the children that finished and resumes the others, and one over a stage's issues
takes up the runs of its workflow left unfinished before (docs/architecture.md, "Workflows
above workflows"). What cuts across every run is written once, behind one seam that the
engine calls at three points (below, "the seam"), never in the engine's own loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from harness import cpu
from harness.artifacts import A, Artifact, Children, Inputs, IssueInputs, Queue, Ran, Worktree
from harness.engine.actions import call
from harness.engine.agents import UNFINISHED, run_agent_step
from harness.engine.commands import run_command_step
from harness.engine.context import Lease, Services, StepContext
from harness.engine.killswitch import CANCEL, Driven, check_kill_switch
from harness.engine.loader import load_workflow
from harness.engine.records import Produced, RunRecords
from harness.engine.workflow import Retry, Step, Workflow
from harness.errors import (
    BudgetExceeded,
    Cancelled,
    DeferredError,
    ErrorKind,
    FactoryError,
    LeaseError,
    QuotaError,
    StepFailed,
    StoppedError,
    stopping,
)
from harness.faults import fault_point
from harness.git import integrity
from harness.git.integrity import GitIntegrityError
from harness.git.worktrees import WorktreeManager
from harness.store.outcomes import shown
from harness.store.records import Run, StepEvent, StepRecord

if TYPE_CHECKING:
    from harness.store.db import Store

ON_FAILURE = "on_failure"
FINISHED = ("succeeded", "failed")


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended, and what its succeeded steps recorded, read by type (``artifact``)."""

    run_id: str
    workflow: str
    issue: int | None
    status: str  # succeeded | failed | stopped
    reason: str | None
    not_before: float | None
    kept: Mapping[str, StepRecord]

    def artifact(self, kind: type[A]) -> A | None:
        """The newest ``kind`` the run's succeeded steps recorded (None: none, or another shape)."""
        found = self.kept.get(kind.__name__)
        try:
            return kind.from_outputs(found.outputs) if found is not None else None
        except ValidationError:
            return None


@dataclass(frozen=True)
class Engine:
    services: Services
    lease: Lease | None = None  # what this engine's runs are under (``leased``)

    # -- public ---------------------------------------------------------------
    def run(
        self,
        name: str,
        issue: int | None = None,
        inputs: Inputs | None = None,
        parent: tuple[str, str] | None = None,
        fresh: Callable[[], None] | None = None,
    ) -> RunOutcome:
        """Run (or resume) workflow ``name`` for ``issue``, given its ``inputs`` record;
        ``parent``: the run and step of the ``workflow:`` step that runs it;
        ``fresh``: called before a new run starts, never when an open one resumes (it may
        refuse)."""
        workflow = load_workflow(self.services, name)
        with around_run(self, workflow, issue) as engine:  # the seam's concerns (below)
            return engine._run(workflow, issue, inputs, parent, fresh)

    def end(self, run_id: str, reason: str) -> RunOutcome:
        """End an unfinished run that nothing will resume (its issue is no longer open): failed,
        with ``reason``, the step it was killed or stopped in recorded as interrupted, the
        checkout it made removed (its branch is kept: ``factory prune``). No step runs and no
        ``on_failure`` action either: nothing is spent or written on the issue."""
        store = self.services.store
        steps = store.steps(run_id)
        if steps and steps[-1].status == "running":
            store.finish_step(steps[-1].seq, "interrupted", {}, error=reason)
        store.set_run_status(run_id, "failed", reason=reason, event=True)
        ended = recorded(store, run_id)
        made = ended.artifact(Worktree)
        if made is not None:
            manager = WorktreeManager.of(self.services.repo, self.services.settings.state_dir)
            manager.remove(Path(made.path))
        return ended

    # -- internals --------------------------------------------------------------
    def _run(
        self,
        workflow: Workflow,
        issue: int | None,
        inputs: Inputs | None,
        parent: tuple[str, str] | None,
        fresh: Callable[[], None] | None,
    ) -> RunOutcome:
        store, name = self.services.store, workflow.name
        given = inputs.model_dump(mode="json", exclude_none=True) if inputs is not None else None
        run = store.find_open_run(name, issue)
        if run is not None and given is not None and _given(run.inputs) != _given(given):
            self.end(run.id, f"a {name} run with other inputs took its place ({given})")
            run = None
        if run is None:
            if fresh is not None:
                fresh()
            rules = self.services.settings.governance.hashes
            run = store.create_run(name, issue, given or {}, rules, parent)
            store.append_event(run.id, "run.started", {"workflow": name, "issue": issue})
        else:
            if parent is not None:  # taken up by a parent's step
                store.set_parent(run.id, *parent)
            if run.not_before and run.not_before > self.services.clock():
                return recorded(store, run.id)  # deferred: not due yet
            store.set_run_status(run.id, "running")
            store.append_event(run.id, "run.resumed", {"workflow": name, "issue": issue})
        driven = self.services.caches.part(Driven).runs  # a second Ctrl-C ends them
        driven.add(run.id)
        try:
            return self._drive(workflow, run)
        finally:
            driven.discard(run.id)

    @staticmethod
    def _history(steps: list[StepRecord]) -> tuple[dict[str, StepRecord], dict[str, StepRecord]]:
        """The steps that succeeded (or were skipped), and the newest failure of each step
        that failed, from the run's step records in order."""
        done: dict[str, StepRecord] = {}
        failures: dict[str, StepRecord] = {}
        for rec in steps:
            if rec.status in ("succeeded", "skipped"):
                done[rec.step_id] = rec
            elif rec.status == "failed":  # newest last: a step failing again moves to the end
                failures.pop(rec.step_id, None)
                failures[rec.step_id] = rec
        return done, failures

    def _next_index(self, workflow: Workflow, steps: list[StepRecord]) -> int | None:
        """Where to go on: derived from the step records alone, so a kill anywhere resumes right."""
        if not steps:
            return 0
        last = steps[-1]
        if last.step_id == ON_FAILURE:
            return None  # the run was ending in failure: finish that
        pos = workflow.index(last.step_id)
        if last.status in UNFINISHED:
            return pos  # killed, stopped or deferred inside this step: do it again
        step = workflow.steps[pos]
        history = [s for s in steps if s.step_id == step.id]
        if last.status == "failed":
            # a gate that said no is not a failed attempt to retry: its evidence goes to a person
            if step.on_fail is not None and last.error_kind != ErrorKind.GATE.value:
                taken = sum(1 for s in history if s.status == "failed")
                if taken <= self._limit(step.on_fail):
                    return workflow.index(step.on_fail.retry_from)
            return pos + 1 if step.may_fail else None
        branch = str((last.outputs or {}).get("verdict", ""))
        loop = step.on.get(branch)
        if loop is not None:
            taken = sum(1 for s in history if (s.outputs or {}).get("verdict") == branch)
            if taken <= self._limit(loop):
                return workflow.index(loop.retry_from)
            return None
        return pos + 1 if pos + 1 < len(workflow.steps) else len(workflow.steps)

    def _limit(self, loop: Retry) -> int:
        if isinstance(loop.max, int):
            return loop.max
        ctx = {"rules": self.services.settings.governance.rules.model_dump(mode="json")}
        return int(self.services.templates.render_string(loop.max, **ctx))

    def _drive(self, workflow: Workflow, run: Run) -> RunOutcome:
        store = self.services.store
        steps: list[StepRecord] = []
        while True:
            # the step records decide where to go on; each step's record is read once (a
            # step that ran since is finished: only the engine of the run's lease writes it)
            steps += store.steps(run.id, after=steps[-1].seq if steps else 0)
            done, failures = self._history(steps)
            ctx = StepContext(
                self.services,
                run.id,
                workflow.name,
                workflow.steps[0],  # the step about to run, or the failure action's
                run.issue,
                run.inputs,
                done,
                failures,
                self.lease,
                records=steps,
            )
            index = self._next_index(workflow, steps)
            if index is None:
                last = steps[-1]
                reason = self._failure_reason(last)
                if last.status != "failed" and last.step_id != ON_FAILURE:  # a loop ran out
                    failures.pop(last.step_id, None)
                    failures[last.step_id] = replace(
                        last,
                        status="failed",
                        outputs={},
                        error=reason,
                        error_kind=ErrorKind.REFUSED.value,
                    )
                return self._fail(workflow, ctx, reason)
            if index >= len(workflow.steps):
                store.set_run_status(run.id, "succeeded", event=True)
                return recorded(store, run.id)
            ctx = replace(ctx, step=workflow.steps[index])
            try:
                before_step(ctx)
            except StoppedError as exc:
                return self._stop(ctx, exc)
            outcome = self._step(workflow, ctx)
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
                made = call(workflow.on_failure, ctx)
            except FactoryError as exc:
                self._finish(seq, "failed", Produced(None), ctx, str(exc), kind=exc.kind)
            else:
                self._finish(seq, "succeeded", made, ctx)
        store.set_run_status(run_id, "failed", reason=reason, event=True)
        return recorded(store, run_id)

    def _failure_reason(self, last: StepRecord) -> str:
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

    def _stop(self, ctx: StepContext, exc: StoppedError | DeferredError) -> RunOutcome:
        """A run stopped where it is, resumed later; one whose issue a person stopped, ended
        by its own process (``end``: a checkout it removes is one its git guard forgets)."""
        if isinstance(exc, Cancelled):
            return self.end(ctx.run_id, str(exc))
        later = exc.not_before if isinstance(exc, DeferredError) else None
        store = self.services.store
        store.set_run_status(ctx.run_id, "stopped", reason=str(exc), not_before=later, event=True)
        return recorded(store, ctx.run_id)

    def _step(self, workflow: Workflow, ctx: StepContext) -> RunOutcome | None:
        """Run one step and persist its result; return an outcome if the run must end now."""
        store = self.services.store
        step = ctx.step
        if step.when is not None:
            value = self.services.templates.evaluate(step.when, **ctx.template_context())
            if not value:
                seq = store.start_step(ctx.run_id, step.id, {"when": step.when}, runs=False)
                store.finish_step(seq, "skipped", {})
                return None
        # its inputs: the step as the workflow writes it (what it runs, and with what)
        seq = store.start_step(ctx.run_id, step.id, step.model_dump(exclude_defaults=True))
        started = time.monotonic()
        try:
            made = self._execute(ctx)
        except (StoppedError, DeferredError) as exc:
            self._finish(seq, "interrupted", Produced(None), ctx, str(exc), kind=exc.kind)
            return self._stop(ctx, exc)
        except (BudgetExceeded, QuotaError, GitIntegrityError) as exc:  # fatal: no retry
            # (after a GitIntegrityError the failure action may label and comment, but every
            # git command it tries is refused: the guard stays tripped)
            fatal = type(exc).__name__
            self._finish(seq, "failed", Produced(None, {"fatal": fatal}), ctx, str(exc), exc.kind)
            # the failures as the records now say (``_history``): this step's the newest
            _, failures = self._history(self.services.store.steps(ctx.run_id))
            return self._fail(workflow, replace(ctx, failures=failures), str(exc))
        except FactoryError as exc:
            event = StepEvent(step=step.id, error=str(exc), kind=exc.kind.value)
            self._finish(seq, "failed", evidence_of(exc), ctx, str(exc), exc.kind, event)
            after_step(ctx, "failed")
            return None
        elapsed = time.monotonic() - started
        done = StepEvent(step=step.id, duration_s=round(elapsed, 4))
        self._finish(seq, "succeeded", made, ctx, event=done)
        after_step(ctx, "done")
        return None

    def _finish(
        self,
        seq: int,
        status: str,
        made: Produced[Artifact],
        ctx: StepContext,
        error: str | None = None,
        kind: ErrorKind | None = None,
        event: StepEvent | None = None,
    ) -> None:
        self.services.store.finish_step(
            seq,
            status,
            made.outputs(),
            error=error,
            model_s=ctx.timings["model_s"],
            subprocess_s=ctx.timings["subprocess_s"],  # sandboxed commands; git is the engine's
            artifact=made.kind,
            error_kind=kind.value if kind is not None else None,
            event=event,
        )

    def _execute(self, ctx: StepContext) -> Produced[Artifact]:
        """What the step made."""
        step = ctx.step
        if step.action is not None:
            return call(step.action, ctx)
        if step.agent is not None:
            return run_agent_step(ctx)
        if step.workflow is not None:
            return Produced(self._children(ctx))
        return run_command_step(ctx)

    # -- workflows above workflows ------------------------------------------------
    def _children(self, ctx: StepContext) -> Artifact:
        """A ``workflow:`` step (docs/architecture.md, "Workflows above workflows"): its child
        runs, each named by this run and step, so that the step done again after a kill reads
        back the children that finished and resumes the others. One child, given the record
        of the step ``inputs`` names (a child that stops stops this run: it takes the child up
        when it resumes); or one per issue of the ``Queue`` of the step ``each`` names that is
        still open, ``width`` at a time (one at a time: none starts after one stopped, but in a
        ``batch``, or once the forge's request budget says stop); or (``finish``) one per run
        of the child workflow left unfinished that is to be finished (``_unfinished``). A child
        that cannot start (held elsewhere, refused) is a row of its own."""
        step = ctx.step
        earlier = {run.issue: run for run in self.services.store.children(ctx.run_id, step.id)}
        if step.each is None and not step.finish:
            kept = [ctx.done[step.inputs]] if step.inputs in ctx.done else []
            given = RunRecords(kept).newest(Inputs)
            number = getattr(given, "number", None)  # a workflow about an issue: that issue's
            ran = self._child(ctx, earlier, number if isinstance(number, int) else None, given)
            if ran.status == "stopped":
                raise StoppedError(str(ran.reason))
            return ran
        queue = ctx.output(step.each, Queue) if step.each else Queue(issues=[])
        finish, ended, opened = self._unfinished(load_workflow(self.services, str(step.workflow)))
        # on a resumed step: what it started already, whatever became of the issue since
        wanted = (opened | {*earlier}) - {*ended}
        numbers = [n for n in ([] if step.finish else queue.issues) if n in wanted]
        numbers += [n for n in finish if n not in numbers]  # whatever its labels say
        if queue.width > 1:
            runs = self._side_by_side(ctx, earlier, numbers, queue)
        else:
            runs = self._in_turn(ctx, earlier, numbers, queue)
        self._say(str(step.workflow), runs)
        return Children(runs=runs, ended=ended)

    def _side_by_side(
        self, ctx: StepContext, earlier: dict[int | None, Run], numbers: list[int], queue: Queue
    ) -> list[Ran]:
        """The children of ``numbers``, ``width`` at a time: each on a thread of its own, with
        its own services (``Services.reopen``) and a CPU slot from its first line (opening its
        services is work too), while this run gives its own up (``harness/cpu.py``)."""

        def worker(number: int) -> Ran:
            with cpu.working():
                reopen = self.services.reopen
                engine = Engine(reopen() if reopen else self.services)
                return engine._child(ctx, earlier, number, issue_inputs(queue, number))

        with cpu.waiting(), ThreadPoolExecutor(queue.width) as pool:
            return list(pool.map(worker, numbers))

    def _in_turn(
        self, ctx: StepContext, earlier: dict[int | None, Run], numbers: list[int], queue: Queue
    ) -> list[Ran]:
        """The children of ``numbers``, one at a time: none starts after one stopped (but in a
        ``batch``: each stops at its first request), or once the forge's request budget says
        stop (a row that says so)."""
        runs: list[Ran] = []
        for number in numbers:
            spent = self.services.forge.request_budget_stop(len(runs))
            stop = Ran(
                workflow=str(ctx.step.workflow), issue=number, status="stopped", reason=spent
            )
            runs.append(
                stop if spent else self._child(ctx, earlier, number, issue_inputs(queue, number))
            )
            if runs[-1].status == "stopped" and not queue.batch:
                break
        return runs

    def _say(self, name: str, runs: list[Ran]) -> None:
        """The live line says where each issue went (``outcome_word``, the one rule), not that
        its run "succeeded"."""
        words = self.services.store.run_outcomes([(r.run_id, name, r.status) for r in runs])
        for ran in runs:
            word, _ = words.get(ran.run_id, (None, None))
            said = shown(word, ran.status)
            self.services.progress(f"  issue {ran.issue}: {name} {said} {ran.reason or ''}")

    def _child(
        self,
        ctx: StepContext,
        earlier: dict[int | None, Run],
        issue: int | None,
        inputs: Inputs | None,
    ) -> Ran:
        """The child run about ``issue``: read back when it finished before (``earlier``, the
        step's children by issue), else run or resumed; one that cannot start (held
        elsewhere, refused) says why."""
        name = str(ctx.step.workflow)
        run = earlier.get(issue)
        try:
            outcome = (
                recorded(self.services.store, run.id)
                if run is not None and run.status in FINISHED
                else self.run(name, issue, inputs, (ctx.run_id, ctx.step.id))
            )
        except StoppedError:
            raise
        except FactoryError as exc:
            return Ran(workflow=name, issue=issue, status="refused", reason=str(exc))
        return Ran.model_validate(outcome, from_attributes=True)

    def _unfinished(self, workflow: Workflow) -> tuple[list[int], list[int], set[int]]:
        """Of the runs of ``workflow`` left unfinished (killed, stopped, deferred): the issues
        of those to finish — past the step that closes their issue (``closes``), or, where the
        workflow names none, about an open one — and of those it ended: about an issue no
        longer open (closed by a person, deleted) before that step, which nothing would want
        (under the issue's lease: one alive in another process ends itself). And the open
        issues but those whose run waits to be due again (deferred: taken up when it is)."""
        store, name = self.services.store, workflow.name
        opened = {issue.number for issue in self.services.forge.list_issues("open")}
        finish: list[int] = []
        ended: list[int] = []
        for run in store.open_runs(name):
            past = workflow.closes in {s.step_id for s in store.steps(run.id)}
            if run.issue is None or (run.not_before or 0) > self.services.clock():
                opened.discard(run.issue or 0)
            elif past or (workflow.closes is None and run.issue in opened):
                finish.append(run.issue)
            elif run.issue not in opened:
                why = f"issue #{run.issue} is no longer open: its {name} run was not resumed"
                with suppress(LeaseError), store.held(run.issue):
                    ended += [run.issue] * self.end_open(run.issue, why, (name,))
        return finish, sorted(ended), opened

    def end_open(self, issue: int, reason: str, workflows: tuple[str, ...]) -> int:
        """End the unfinished runs of ``workflows`` about ``issue`` (``end``), for a caller that
        holds the issue's lease: a person cancelled it, or it is no longer open. How many."""
        runs = [r for w in workflows if (r := self.services.store.find_open_run(w, issue))]
        for run in runs:
            self.end(run.id, reason)
        return len(runs)


def kept(steps: list[StepRecord]) -> dict[str, StepRecord]:
    """Type name -> the newest succeeded step that kept a record of that type."""
    return {s.artifact: s for s in steps if s.artifact and s.status == "succeeded"}


def recorded(store: Store, run_id: str) -> RunOutcome:
    """Run ``run_id`` as its records say now."""
    run = store.get_run(run_id)
    steps = kept(store.steps(run_id))
    return RunOutcome(
        run.id, run.workflow, run.issue, run.status, run.reason, run.not_before, steps
    )


def issue_inputs(queue: Queue, number: int) -> IssueInputs:
    """A stage's child's inputs: its issue, and whether it is part of a ``batch`` (None: not
    given)."""
    return IssueInputs(number=number, batch=queue.batch or None)


def _given(inputs: Mapping[str, object]) -> dict[str, object]:
    """What ``inputs`` ask: an input at its empty default (``rehearsal: false``, none) is one
    not given, whichever version wrote it."""
    return {key: value for key, value in inputs.items() if value}


def evidence_of(exc: FactoryError) -> Produced[Artifact]:
    """A failed step's evidence: an artifact, or outputs of its own."""
    found = exc.outputs if isinstance(exc, StepFailed) else None
    if isinstance(found, Artifact):
        return Produced(found)
    return Produced(None, dict(found) if isinstance(found, dict) else {})


# -- the seam ------------------------------------------------------------------------------------
# What cuts across every run, as Temporal's interceptors and Hamilton's lifecycle hooks put it:
# the engine calls three points, ``around_run`` (from a run's first step to its end),
# ``before_step`` and ``after_step`` (once the step's record is written); each point holds the
# concerns that act there, in their order, each written once, here or in the module it names.


@contextmanager
def around_run(engine: Engine, workflow: Workflow, issue: int | None) -> Iterator[Engine]:
    """Around a run of ``workflow`` about ``issue``, the engine that runs it: the kill switch
    asked first (no CPU slot is waited for while it says stop: ``killswitch.py``), then a CPU
    slot among the process's other runs (``harness/cpu.py``), every git command of the run
    refusing a config that runs programs (``git/integrity.py``), a person's cancel of the issue
    stopping its sandboxed command, model answer and check at once (``errors.stopping``), and
    innermost the issue's lease (``leased``), so that the ``after:`` action runs within all."""
    services = engine.services
    check_kill_switch(services)
    with (
        cpu.working(),
        integrity.guarded(services.repo.path),
        stopping(partial(services.store.get_flag, f"{CANCEL}{issue}")),
        leased(engine, workflow, issue) as engine,
    ):
        yield engine


def before_step(ctx: StepContext) -> None:
    """Before ``ctx.step`` begins: the kill switch, and a person's cancel of the issue with it
    (``StoppedError``: the run stops there, resumed later; ``Cancelled``: it ends)."""
    check_kill_switch(ctx.services)


def after_step(ctx: StepContext, status: str) -> None:
    """Once ``ctx.step``'s record is written (``done`` or ``failed``): its fault point, where a
    crash test kills the process (``FACTORY_FAULT_AT=<workflow>.<step>.<status>``)."""
    fault_point(f"{ctx.workflow}.{ctx.step.id}.{status}")


@contextmanager
def leased(engine: Engine, workflow: Workflow, issue: int | None) -> Iterator[Engine]:
    """A workflow about an issue (``leased: true``) runs under the issue's lease from its first
    step to its end (``Store.held``), and its ``after:`` action whatever became of the run;
    another as it is (under its parent's lease, or none)."""
    if not workflow.leased:
        yield engine
        return
    if issue is None:
        raise FactoryError(f"workflow {workflow.name} is about an issue: give its number")
    with engine.services.store.held(issue) as (holder, fence):
        lease = Lease(issue, holder, fence)
        try:
            yield replace(engine, lease=lease)
        finally:
            if workflow.after is not None:
                step = Step(id="after", action=workflow.after)
                done = StepContext(
                    engine.services, "", workflow.name, step, issue, {}, {}, lease=lease
                )
                call(workflow.after, done)
