"""The kill switch, in one place: ``factory stop`` (a flag in the store, set and released
here by the CLI and the dashboard alike) or the environment's ``FACTORY_ENABLED=false``. The
engine checks it before every step, and every model call (an agent's, the sealed
validator's) before it is made; a rehearsal's runs, in a scratch state of their own, obey
the factory's switch as well (``Services.outer_store``)."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from harness.errors import StoppedError, UsageError, check_one_line, stop_now
from harness.store.outcomes import INTERRUPTED as INTERRUPTED_BY_SIGNAL

if TYPE_CHECKING:
    from harness.engine.context import Services
    from harness.store.db import Store

KILL_SWITCH = "stopped"
# Ctrl-C in this process (``factory run``): its runs stop at their next step, as the switch
# stops every process's
INTERRUPTED = threading.Event()
INTERRUPT_REASON = INTERRUPTED_BY_SIGNAL


class Driven:
    """The runs this process drives (``Caches.part``): a second Ctrl-C ends them where they are."""

    def __init__(self) -> None:
        self.runs: set[str] = set()


def stopped_by(store: Store) -> str | None:
    """Why ``factory stop`` stopped the factory whose state ``store`` keeps, or None."""
    return store.get_flag(KILL_SWITCH)


def kill_switch_state(services: Services) -> tuple[str, str] | None:
    """Why the factory is stopped and how to resume it, or None while it runs: the stop
    flag (``factory stop``) or the environment's ``FACTORY_ENABLED=false``."""
    for store in (services.store, services.outer_store):
        reason = stopped_by(store) if store is not None else None
        if reason is not None:
            return reason, "factory resume"
    if INTERRUPTED.is_set():
        return INTERRUPT_REASON, "the same command again to resume"
    if os.environ.get("FACTORY_ENABLED", "").strip().lower() == "false":
        return "FACTORY_ENABLED is false", "factory resume --github"
    return None


# + an issue's number: the flag of a person's ``factory cancel``, why they stopped it, which
# a run of the issue asks before each step and model call and every half second of a
# sandboxed command (``Engine.run``, ``errors.stop_now``)
CANCEL = "cancelled:"


def check_kill_switch(services: Services) -> None:
    """Raise ``StoppedError`` while the factory is stopped, and ``Cancelled`` when a person
    stopped this thread's run's issue (``stop_now``)."""
    stop_now()
    stopped = kill_switch_state(services)
    if stopped is None:
        return
    if stopped[0] == INTERRUPT_REASON:  # this process's Ctrl-C, not the kill switch
        raise StoppedError(
            f"{INTERRUPT_REASON}: this process starts no other step; run {stopped[1]}"
        )
    raise StoppedError(f"the factory is stopped ({stopped[0]}); run '{stopped[1]}'")


def engage_kill_switch(store: Store, reason: str) -> None:
    """Pull the kill switch: no workflow starts another step until it is released."""
    store.set_flag(KILL_SWITCH, reason)


def release_kill_switch(store: Store) -> None:
    store.clear_flag(KILL_SWITCH)


MAX_STOP_REASON = 500  # characters of a kill switch's reason


def stop_reason(option: str, text: str) -> str:
    """The kill switch's reason as both faces take it (``factory stop --reason``, the
    dashboard's stop form): one line of plain text, not blank, at most ``MAX_STOP_REASON``
    characters; returned without surrounding spaces."""
    check_one_line(option, text)
    reason = text.strip()
    if not reason:
        raise UsageError(f"{option}: empty; say in a few words why the factory stops")
    if len(reason) > MAX_STOP_REASON:
        raise UsageError(
            f"{option}: {len(reason):,} characters; give at most {MAX_STOP_REASON} "
            "(one line: the details belong elsewhere)"
        )
    return reason
