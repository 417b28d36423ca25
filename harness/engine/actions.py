"""The registry of built-in actions a workflow step can name (``action: forge.open_pr``)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from harness.engine.context import StepContext

Action = Callable[[StepContext], dict[str, Any]]

_ACTIONS: dict[str, Action] = {}

# Modules whose import registers actions.
_PROVIDERS = ("harness.triage.actions", "harness.implement.actions", "harness.validate.actions")


def action(name: str) -> Callable[[Action], Action]:
    """Register ``fn`` as the action ``name``."""

    def register(fn: Action) -> Action:
        _ACTIONS[name] = fn
        return fn

    return register


def _load() -> None:
    for module in _PROVIDERS:
        importlib.import_module(module)  # idempotent: a module registers once, on first import


def get_action(name: str) -> Action | None:
    _load()
    return _ACTIONS.get(name)


def action_names() -> list[str]:
    _load()
    return sorted(_ACTIONS)
