"""The kill switch, in one place: ``factory stop`` (a flag in the store, set and released
here by the CLI and the dashboard alike) or the environment's ``FACTORY_ENABLED=false``. The
engine checks it before every step, and every model call (an agent's, the sealed
validator's) before it is made; a rehearsal's runs, in a scratch state of their own, obey
the factory's switch as well (``Services.outer_store``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from harness.errors import StoppedError

if TYPE_CHECKING:
    from harness.engine.context import Services
    from harness.store.db import Store

KILL_SWITCH = "stopped"


def kill_switch_state(services: Services) -> tuple[str, str] | None:
    """Why the factory is stopped and how to resume it, or None while it runs: the stop
    flag (``factory stop``) or the environment's ``FACTORY_ENABLED=false``."""
    for store in (services.store, services.outer_store):
        reason = store.get_flag(KILL_SWITCH) if store is not None else None
        if reason is not None:
            return reason, "factory resume"
    if os.environ.get("FACTORY_ENABLED", "").strip().lower() == "false":
        return "FACTORY_ENABLED is false", "factory resume --github"
    return None


def check_kill_switch(services: Services) -> None:
    stopped = kill_switch_state(services)
    if stopped is not None:
        raise StoppedError(f"the factory is stopped ({stopped[0]}); run '{stopped[1]}'")


def engage_kill_switch(store: Store, reason: str) -> None:
    """Pull the kill switch: no workflow starts another step until it is released."""
    store.set_flag(KILL_SWITCH, reason)


def release_kill_switch(store: Store) -> None:
    store.clear_flag(KILL_SWITCH)
