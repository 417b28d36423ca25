"""What workflows hand each other, checked before anything runs (docs/architecture.md, "What
flows between workflows"): every step finds the earlier steps its action ``needs`` (its
parameters), each producing the record the parameter is typed with, and every artifact an
action ``consumes`` is still produced by some workflow. A problem is one line naming the
file, the step and what needs it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from harness.artifacts import (
    OUTPUT_TOOLS,
    Artifact,
    Children,
    Inputs,
    Queue,
    Ran,
    SetupRun,
    Tested,
    Worktree,
)
from harness.engine.actions import Need, action_info
from harness.engine.context import SETUP_STEP, TESTED_STEP, WORKTREE_STEP
from harness.engine.workflow import Step, Workflow, parse_workflow
from harness.errors import ConfigError, ConfigErrors
from harness.paths import shipped_text, workflows_dir


@dataclass(frozen=True)
class Loaded:
    """A workflow and the file it came from (an override or the shipped one)."""

    workflow: Workflow
    source: str


@lru_cache(maxsize=1)
def shipped_workflow_names() -> tuple[str, ...]:
    """The workflows the harness ships (YAML files with a name and steps)."""
    texts = {p.stem: p.read_text(encoding="utf-8") for p in sorted(workflows_dir().glob("*.yaml"))}
    return tuple(n for n, text in texts.items() if "\nsteps:" in text or text.startswith("steps:"))


def shipped(name: str) -> Workflow:
    return parse_workflow(shipped_text("workflows", name), f"workflows/{name}.yaml")


def step_problems(loaded: Loaded) -> list[ConfigError]:
    """Steps of one workflow that would not find the earlier steps they read."""
    workflow, source = loaded.workflow, loaded.source
    problems: list[ConfigError] = []
    for pos, step in enumerate(workflow.steps):
        earlier = {s.id: s for s in workflow.steps[:pos]}
        who = step.action or f"a {step.kind} step with tools or a command"
        said: list[str] = []
        for needed, need in needs_of(step).items():
            found = earlier.get(needed)
            wanted = f"producing {need.record.__name__}"
            made = produced_by(found) if found else None
            # its record, one of its kind, or its record with the step's extras
            # (``prepare: Prepared`` reads a ``Produced[ValidationTarget]``)
            related = made is not None and (
                need.record in made.__mro__ or made in need.record.__mro__
            )
            fits = related if found else need.optional
            if not fits:
                what = (
                    f"runs {found.kind} {_name(found)}"
                    if found
                    else "is missing (renamed or dropped?)"
                )
                said.append(f"{who} needs an earlier step {needed!r} {wanted}; that step {what}")
        problems += [ConfigError(source, f"steps[{pos}] ({step.id})", text) for text in said]
    return problems


def needs_of(step: Step) -> dict[str, Need]:
    """The earlier steps ``step`` reads: its action's, and the engine's own for it (the checkout
    its tools or command work in; what setup made, left out of a resumed agent's changes; the
    tests' tree a fresh agent is shown the diff of)."""
    info = action_info(step.action)
    needs = dict(info.needs) if info else {}
    if step.each is not None:  # a child workflow per issue of its queue
        needs[step.each] = Need(Queue)
    if step.inputs is not None:  # a child workflow given that step's record as its inputs
        needs[step.inputs] = Need(Inputs)
    if step.run is not None or step.tools:
        needs[WORKTREE_STEP] = Need(Worktree)
    if "edit_file" in step.tools:
        needs[SETUP_STEP] = Need(SetupRun, optional=True)
    if step.context == "fresh":
        needs[TESTED_STEP] = Need(Tested, optional=True)
    return needs


def produced_by(step: Step) -> type[Artifact] | None:
    """The record ``step`` hands on: its action's, its agent's output tool's, or its child
    workflows' runs."""
    info = action_info(step.action)
    if step.workflow is not None:
        return Ran if step.each is None and not step.finish else Children
    return info.produces if info else OUTPUT_TOOLS.get(step.output or "")


def _name(step: Step) -> str:
    return str(step.action or step.agent or step.run or step.workflow)


@dataclass(frozen=True)
class Broken:
    """An artifact ``consumer`` takes that no workflow produces any more."""

    consumer: str  # the workflow that needs it
    producer: str  # the workflow that produced it as shipped ("" if none)
    error: ConfigError


def artifact_problems(workflows: Mapping[str, Loaded]) -> list[Broken]:
    """Artifacts some workflow takes that no workflow produces any more: blamed on the file
    that no longer produces it (the override), naming the step that needs it."""
    produced: dict[str, str] = {}  # artifact type -> workflow producing it
    for name, loaded in workflows.items():
        for step in loaded.workflow.steps:
            made = produced_by(step)
            if made is not None:
                produced.setdefault(made.__name__, name)
    problems: list[Broken] = []
    for name, loaded in workflows.items():
        for step in loaded.workflow.steps:
            info = action_info(step.action)
            for kind in info.consumes if info else ():
                if kind.__name__ in produced:
                    continue
                producer, action = _shipped_producer(kind.__name__, workflows)
                blamed = workflows.get(producer, loaded)
                said = (
                    f"no step runs {action} any more, but workflow {name} step "
                    f"{step.id!r} ({step.action}) needs the {kind.__name__} it produces"
                )
                problems.append(Broken(name, producer, ConfigError(blamed.source, "steps", said)))
    return problems


def _shipped_producer(kind: str, workflows: Mapping[str, Loaded]) -> tuple[str, str]:
    """(workflow, action) that produces ``kind`` in the shipped workflows."""
    for name in workflows:
        try:
            steps = shipped(name).steps
        except ConfigErrors:  # an override with no shipped counterpart
            continue
        for step in steps:
            made = produced_by(step)
            if made is not None and made.__name__ == kind:
                return name, _name(step)
    return "", f"an action producing {kind}"


def handoff_problems(workflows: Mapping[str, Loaded]) -> list[ConfigError]:
    """Every broken hand-off of a set of workflows, inside one and between them."""
    problems = [p for loaded in workflows.values() for p in step_problems(loaded)]
    return problems + [b.error for b in artifact_problems(workflows)]
