"""Agent steps: render the role's prompt, give it its tools, and run the turn loop."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from threading import Thread
from typing import TypedDict

from pydantic import ValidationError

from harness.artifacts import OUTPUT_TOOLS, Artifact, SetupRun, Tested, Worktree
from harness.engine.budget import BudgetGuard
from harness.engine.context import SETUP_STEP, TESTED_STEP, StepContext
from harness.engine.definition import Definition, role_definition  # overrides, checked
from harness.engine.killswitch import check_kill_switch
from harness.engine.records import Produced
from harness.errors import FactoryError
from harness.git.repo import GitRepo
from harness.model.agent import AgentHooks, AgentSpec, run_agent
from harness.model.base import CallRecord
from harness.model.batch import BatchCollector, batch_folder
from harness.model.blocks import Handler, Request
from harness.redact import redact

_FILE_TOOLS = ("read_file", "list_files", "search", "write_file", "edit_file")
UNFINISHED = ("running", "interrupted")  # a step's record when it was killed or stopped
RESUMED_PATCH_BYTES = 20_000  # of the changes a resumed step is shown


class StepHooks(AgentHooks):
    """Checks the kill switch and the budget before each call of a step's agent; records
    each call after it (the sealed validator's too, at the harness's end of its socket)."""

    def __init__(self, ctx: StepContext, model: str) -> None:
        self.ctx = ctx
        self.model = model
        s = ctx.services
        self.guard = BudgetGuard(
            s.store, s.settings.governance.rules, ctx.run_id, ctx.issue, s.clock, ctx.workflow
        )

    def before_call(self, request: Request) -> None:
        check_kill_switch(self.ctx.services)  # the one kill-switch check: a cancel too
        self.guard.check(self.model, request)

    def after_call(self, record: CallRecord) -> None:
        self.ctx.services.store.record_call(self.ctx.run_id, self.ctx.step.id, record)
        self.ctx.timings["model_s"] += record.duration_s


def tool_handlers(ctx: StepContext, names: list[str], ignored: list[str]) -> dict[str, Handler]:
    """Handlers for the tools a step declares, bound to the run's worktree; ``ignored``
    collects the new files written that a ``.gitignore`` keeps out of the change."""
    if not names:
        return {}
    worktree = ctx.worktree()
    if worktree is None:
        raise FactoryError(f"step {ctx.step.id}: tools {names} need a worktree step before it")
    handlers: dict[str, Handler] = {}
    if any(n in _FILE_TOOLS for n in names):
        from harness.tools.files import FileTools

        handlers.update(FileTools(Path(worktree.path), ignored=ignored).handlers())
    if "run_command" in names or "run_tests" in names:
        from harness.engine.commands import command_tool_handlers

        handlers.update(command_tool_handlers(ctx, Path(worktree.path)))
    return {name: fn for name, fn in handlers.items() if name in names}


def save_transcript(ctx: StepContext, messages: Sequence[object], name: str | None = None) -> Path:
    """Write the conversation (redacted) under the state directory, as ``<name or the step's
    id>.json``; transcripts stay private. Compact JSON (json's C encoder: an indented dump
    is encoded in Python, several times slower); the dashboard indents what it shows."""
    folder = ctx.services.settings.state_dir / "transcripts" / ctx.run_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name or ctx.step.id}.json"
    text = json.dumps(messages, ensure_ascii=False, default=str)
    path.write_text(redact(text), encoding="utf-8")
    return path


@dataclass(frozen=True)
class CutShort:
    """What a step cut short left in its worktree: the files changed and their diff."""

    files: list[str]
    diff: str


class AgentContext(TypedDict):
    """What an agent step's templates see beyond the run's context: the diff under review
    (``fresh``), the role's definition (rubric, limits) when ``validators/`` defines it, and
    what an attempt cut short left (``resumed``)."""

    diff: str
    definition: Definition | None
    resumed: CutShort | None


def _extra_context(ctx: StepContext) -> AgentContext:
    """A ``fresh`` agent sees the diff under review; a role defined in ``validators/`` gets
    its definition (rubric, limits) as ``definition``."""
    worktree = ctx.worktree()
    extra = AgentContext(
        diff="",
        definition=role_definition(ctx.services, ctx.step.agent or ""),
        resumed=_cut_short(ctx, worktree) if worktree is not None else None,
    )
    if ctx.step.context == "fresh" and worktree is not None:
        repo = GitRepo(Path(worktree.path))
        # the tree the tests ran on, which is what will be committed, when there is one
        tested = ctx.output_if_ran(TESTED_STEP, Tested)
        base = worktree.base_sha
        extra["diff"] = repo.tree_diff(base, tested.tree) if tested else repo.working_diff(base)
    return extra


def _cut_short(ctx: StepContext, worktree: Worktree) -> CutShort | None:
    """For a step that writes, begun before in this run and cut short (killed, stopped): the
    files its worktree changed since the attempt began and their diff, the cut-short work
    included (setup's output left out), so that its request says what it will find."""
    path = Path(worktree.path)  # gone (a reboot): nothing of the cut-short work is left
    # the engine takes a run up again in the step its newest record left unfinished: this one
    cut = bool(ctx.records) and ctx.records[-1].status in UNFINISHED
    if not (cut and "edit_file" in ctx.step.tools and path.is_dir()):
        return None
    repo = GitRepo(path)
    setup = ctx.output_if_ran(SETUP_STEP, SetupRun)
    tree = repo.stage_tree(exclude=setup.artifacts if setup else [])
    began = worktree.start_sha or worktree.base_sha
    changes, patch = repo.change(began, tree, RESUMED_PATCH_BYTES)
    return CutShort([c.path for c in changes], patch) if changes else None


def run_agent_step(ctx: StepContext) -> Produced[Artifact]:
    """The agent's turns; its output tool's input as the step's outputs (with its turns and
    transcript): the record of the tool's type when it has one (``OUTPUT_TOOLS``)."""
    step = ctx.step
    services = ctx.services
    assert step.agent is not None and step.prompt is not None and step.output is not None
    if services.model.kind == "anthropic":  # the client's SDK loads while the step prepares
        Thread(target=import_module, args=("harness.model.anthropic_model",), daemon=True).start()
    settings = services.settings
    choice = settings.config.role_model(step.agent)
    context = {**ctx.template_context(), **_extra_context(ctx)}
    # a step may name its model (an escalated tier, a second reviewer's): only ever a string
    chosen = services.templates.evaluate(step.model, **context) if step.model else None
    model_id = str(chosen) if isinstance(chosen, str) and chosen else choice.model
    spec = AgentSpec(
        role=step.agent,
        model=model_id,
        governance=settings.governance.texts(),
        instructions=services.templates.render(step.prompt, **context),
        task=services.templates.render(step.task, **context) if step.task else "",
        tools=list(step.tools),
        output_tool=step.output,
        max_turns=step.max_turns,
        max_tokens=step.max_tokens,
        thinking=choice.thinking,
        effort=choice.effort,
    )
    ignored: list[str] = []
    handlers = tool_handlers(ctx, list(step.tools), ignored)
    model = services.model
    if ctx.inputs.get("batch"):  # a run in batch mode: its requests wait for a Message Batch
        model = BatchCollector(model, batch_folder(settings.state_dir, ctx.run_id))
    result = run_agent(model, spec, handlers, StepHooks(ctx, model_id))
    transcript = save_transcript(ctx, result.messages)
    extra: dict[str, object] = {"_turns": result.turns, "_transcript": str(transcript)}
    if ignored:  # new files a .gitignore keeps out of the change: the pull request says so
        extra["_ignored"] = ignored
    kind = OUTPUT_TOOLS.get(step.output)
    try:  # an override may widen the tool's schema: its input is kept, untyped
        record = kind.model_validate(result.output) if kind is not None else None
    except ValidationError:
        record = None
    return Produced(record, extra if record else {**result.output, **extra})
