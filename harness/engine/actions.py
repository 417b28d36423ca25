"""The table of built-in actions a workflow step can name (``action: forge.open_pr``). An
action's signature is its declaration (docs/architecture.md, "What flows between workflows"):
its return annotation is the record it ``produces``; each parameter after ``ctx`` is an
earlier step of its run it ``needs``, named by the step's id and typed with the record that
step produced (``X | None``: a ``when:`` may have skipped it); ``consumes`` names the records
of other workflows it reads from the store. The engine hands it those records when it calls
it (``call``), and ``harness.engine.handoffs`` refuses an override breaking one.
``@action`` only marks a function; the table is read off the modules of ``PROVIDERS`` once
per process, and kept in the process's ``Caches``."""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from harness.artifacts import Artifact, Inputs
from harness.caches import PROCESS
from harness.engine.context import StepContext
from harness.engine.records import Produced
from harness.errors import FactoryError

Action = Callable[..., Any]  # (ctx, records) -> an Artifact, a Produced, outputs (a dict) or None
_MARK = "__factory_action__"

# Modules whose actions the table holds.
PROVIDERS = (
    "harness.triage.actions",
    "harness.implement.actions",
    "harness.validate.actions",
    "harness.validate.merge",
    "harness.lessons.actions",
    "harness.audit",
    "harness.heal.actions",
    "harness.heal.production",
    "harness.triage.queue",
    "harness.validate.run",
    "harness.cycle",
)


@dataclass(frozen=True)
class Need:
    """An earlier step an action reads (a parameter): the ``record`` it must have produced;
    ``optional``: the step may be absent or skipped (the parameter is then None)."""

    record: type[Artifact]
    optional: bool = False


@dataclass(frozen=True)
class ActionInfo:
    """What an action hands on and takes."""

    name: str
    produces: type[Artifact] | None = None
    consumes: tuple[type[Artifact], ...] = ()
    needs: Mapping[str, Need] = field(default_factory=lambda: MappingProxyType({}))
    inputs: type[Inputs] | None = None  # the workflow's inputs, as its ``inputs`` parameter
    # it may return outputs (a dict) or None instead of what it produces
    may_produce_nothing: bool = False


def action(name: str, consumes: tuple[type[Artifact], ...] = ()) -> Callable[[Action], Action]:
    """Mark ``fn`` as the action ``name``: what it produces and needs is read off its
    signature."""

    def mark(fn: Action) -> Action:
        hints = typing.get_type_hints(fn)
        made, others = _record(hints.get("return"))
        wanted: dict[str, Need] = {}
        given = hints.pop("inputs", None)
        if given is not None and not (isinstance(given, type) and issubclass(given, Inputs)):
            raise TypeError(f"action {name}: parameter inputs is not a workflow's Inputs")
        for param in [p for p in list(inspect.signature(fn).parameters)[1:] if p != "inputs"]:
            record, optional = _record(hints.get(param))
            if record is None or optional not in ((), (type(None),)):
                raise TypeError(f"action {name}: parameter {param} is not a record (or one | None)")
            wanted[param] = Need(record, optional=bool(optional))
        info = ActionInfo(
            name,
            made,
            consumes,
            MappingProxyType(wanted),
            inputs=given,
            may_produce_nothing=bool(others),
        )
        setattr(fn, _MARK, info)
        return fn

    return mark


def _record(annotation: object) -> tuple[type[Artifact] | None, tuple[object, ...]]:
    """The record an annotation names (``X``, ``Produced[X]`` or one of a union), and the rest
    of it (``None``, ``dict[str, Any]``)."""
    found = typing.get_args(annotation) or (annotation,)
    records = [a for a in found if isinstance(a, type) and issubclass(a, Artifact)]
    others = tuple(a for a in found if a not in records)
    return (records[0], others) if len(records) == 1 else (None, found)


def declared(fn: object) -> ActionInfo | None:
    """What ``fn`` declares, if ``@action`` marked it."""
    info = getattr(fn, _MARK, None)
    return info if isinstance(info, ActionInfo) else None


class ActionTable:
    """Every marked function of the ``PROVIDERS`` modules, by name."""

    def __init__(self) -> None:
        self.functions: dict[str, Action] = {}
        self.declared: dict[str, ActionInfo] = {}
        for module in PROVIDERS:
            for value in vars(importlib.import_module(module)).values():
                if (info := declared(value)) is not None:
                    self.functions[info.name], self.declared[info.name] = value, info


def actions() -> ActionTable:
    """The process's action table (built on first use)."""
    return PROCESS.part(ActionTable)


def call(name: str, ctx: StepContext) -> Produced[Artifact]:
    """Run action ``name`` in ``ctx``, given the records of the earlier steps its parameters
    name (None for an optional one whose step did not run; a record that is not one fails the
    step in one line: ``StepContext.output``). What it made, as its step persists it: a
    record validated again, and what the action produces (unless it may produce nothing:
    outputs, or None for none)."""
    info = action_info(name)
    if info is None:  # load_workflow validated this; a race with an override edit
        raise FactoryError(f"unknown action {name!r}")
    records: dict[str, Artifact | None] = {
        step: (ctx.output_if_ran if need.optional else ctx.output)(step, need.record)
        for step, need in info.needs.items()
    }
    if info.inputs is not None:
        try:
            records["inputs"] = info.inputs.model_validate(ctx.inputs)
        except ValidationError as exc:
            raise FactoryError(f"action {name}: the run's inputs are not its workflow's") from exc
    result = actions().functions[name](ctx, **records)
    if isinstance(result, Artifact):
        result = Produced(result)
    if isinstance(result, Produced) and result.artifact is not None:
        kind = type(result.artifact)
        if info.produces is not None and kind is not info.produces:
            raise FactoryError(
                f"action {name} returned {kind.__name__}, not {info.produces.__name__}"
            )
        try:
            kind.model_validate(result.artifact.model_dump())
        except ValidationError as exc:
            raise FactoryError(f"action {name} returned an invalid {kind.__name__}: {exc}") from exc
        return result
    if info.produces is not None and not info.may_produce_nothing:
        raise FactoryError(f"action {name} returned no {info.produces.__name__}")
    if result is None:
        return Produced(None)
    if not isinstance(result, dict):
        raise FactoryError(f"action {name} returned {type(result).__name__}, not outputs")
    return Produced(None, result)


def action_info(name: str | None) -> ActionInfo | None:
    """What action ``name`` declares (None: no such action, or a step that runs none)."""
    return actions().declared.get(name or "")


def action_names() -> list[str]:
    return sorted(actions().functions)
