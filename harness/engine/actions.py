"""The table of built-in actions a workflow step can name (``action: forge.open_pr``), each
with what it ``produces``, ``consumes`` and ``needs`` (docs/architecture.md says what they
mean and how an override breaking one is refused; see ``harness.engine.handoffs``).
``@action`` only marks a function with what it declares; the table is read off the modules
of ``PROVIDERS`` once per process, and kept in the process's ``Caches``."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from harness.artifacts import Artifact
from harness.caches import PROCESS
from harness.engine.context import StepContext

Action = Callable[[StepContext], Any]  # returns outputs (a dict), an Artifact or a Produced
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
)


@dataclass(frozen=True)
class ActionInfo:
    """What an action declares it hands on and takes."""

    name: str
    produces: type[Artifact] | None = None
    consumes: tuple[type[Artifact], ...] = ()
    needs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def action(
    name: str,
    produces: type[Artifact] | None = None,
    consumes: tuple[type[Artifact], ...] = (),
    needs: Mapping[str, str] | None = None,
) -> Callable[[Action], Action]:
    """Mark ``fn`` as the action ``name``."""

    def mark(fn: Action) -> Action:
        setattr(
            fn, _MARK, ActionInfo(name, produces, consumes, MappingProxyType(dict(needs or {})))
        )
        return fn

    return mark


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


def get_action(name: str) -> Action | None:
    return actions().functions.get(name)


def action_info(name: str) -> ActionInfo | None:
    return actions().declared.get(name)


def action_names() -> list[str]:
    return sorted(actions().functions)
