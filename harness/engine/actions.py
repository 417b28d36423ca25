"""The registry of built-in actions a workflow step can name (``action: forge.open_pr``).

An action may declare what it hands on and what it takes: ``produces`` (the artifact type
it returns), ``consumes`` (artifact types it looks up from other workflows, by type and
issue) and ``needs`` (steps of its own workflow whose outputs it reads, by id, each with
the action that step must run). Loading a workflow, and ``factory check``, refuse an
override that breaks one of these (see ``harness.engine.handoffs``)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.artifacts import Artifact, Produced
from harness.engine.context import StepContext

Action = Callable[[StepContext], Any]  # returns dict[str, Any] | Artifact | Produced
Result = dict[str, Any] | Artifact | Produced


@dataclass(frozen=True)
class ActionInfo:
    """What an action declares it hands on and takes."""

    name: str
    produces: type[Artifact] | None = None
    consumes: tuple[type[Artifact], ...] = ()
    needs: Mapping[str, str] = field(default_factory=dict)


_ACTIONS: dict[str, Action] = {}
_DECLARED: dict[str, ActionInfo] = {}

# Modules whose import registers actions.
_PROVIDERS = (
    "harness.triage.actions",
    "harness.implement.actions",
    "harness.validate.actions",
    "harness.validate.merge",
)


def action(
    name: str,
    produces: type[Artifact] | None = None,
    consumes: tuple[type[Artifact], ...] = (),
    needs: Mapping[str, str] | None = None,
) -> Callable[[Action], Action]:
    """Register ``fn`` as the action ``name``."""

    def register(fn: Action) -> Action:
        _ACTIONS[name] = fn
        _DECLARED[name] = ActionInfo(name, produces, consumes, dict(needs or {}))
        return fn

    return register


def _load() -> None:
    for module in _PROVIDERS:
        importlib.import_module(module)  # idempotent: a module registers once, on first import


def get_action(name: str) -> Action | None:
    _load()
    return _ACTIONS.get(name)


def action_info(name: str) -> ActionInfo | None:
    _load()
    return _DECLARED.get(name)


def action_names() -> list[str]:
    _load()
    return sorted(_ACTIONS)
