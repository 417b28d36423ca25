"""Calibration: the hold-out must pass on production before it can judge a change; it holds
for a *tree* and a hold-out, not a commit (docs/how-it-works.md, "Calibration"). Validations
starting together wait for the first to calibrate (a file lock per key, released when a killed
holder exits)."""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from harness.artifacts import HoldoutRun
from harness.browser.journeys import journey_files
from harness.cpu import waiting
from harness.digest import sha256
from harness.git.repo import GitRepo
from harness.store.base import factory_now
from harness.store.db import Store

if TYPE_CHECKING:
    from harness.config.settings import Settings


def holdout_digest(holdout: Path) -> str:
    """What the hold-out says now: a calibration holds for this tree *and* these journeys and
    learned checks (a maintainer's edit to a journey, a check learned, calibrates again)."""
    digest = hashlib.sha256()
    for path in [*journey_files(holdout), *sorted(holdout.glob("learned/*.yaml"))]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def calibration_key(repo: GitRepo, sha: str, holdout: Path, kind: str = "baseline") -> str:
    """The flag of what holds for ``sha``'s tree under this hold-out: its calibration
    (``baseline``), or production's health found green on it (``health``)."""
    return f"{kind}:{repo.tree_of(sha)}:{holdout_digest(holdout)}"


def green_now(store: Store, settings: Settings, key: str) -> str | None:
    """Production's health on a tree under this hold-out (``key``: ``calibration_key(...,
    "health")``), recorded green less than ``health.green_for_h`` hours ago (factory time):
    evidence for a while, not for ever — a test or a page may go bad on a tree that did not
    change (docs/heal.md)."""
    since = factory_now() - settings.config.health.green_for_h * 3600
    return store.get_flag(key, since)


@contextmanager
def computed_once(state_dir: Path, key: str) -> Iterator[None]:
    """Held while ``key`` is looked up and, if missing, computed: concurrent validations (threads
    or processes) wait for the one computing it and then read its result. The run keeps its
    CPU slot: a few statements that never wait (the merge queue's) hold the lock for a moment;
    a caller whose work under it waits gives the slot away first (``cached_or_computed``)."""
    folder = state_dir / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    name = sha256(key)[:32]
    with (folder / f"{name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_or_computed(
    store: Store, state_dir: Path, key: str, compute: Callable[[], HoldoutRun]
) -> tuple[HoldoutRun, bool]:
    """(result, whether it was known already) for ``key``, computing it at most once. A known
    result (written once, whole) is read at once: a run that gave its CPU slot away for it
    would ask again behind every run waiting for one (``PATIENCE_S`` each time, with many
    validations side by side: the cached baseline's seconds of waiting)."""
    if (known := store.get_flag(key)) is None:
        # the wait, and the computing under the lock (checks, which wait themselves), without
        # a CPU slot: no run asks for one while it holds this lock (harness/cpu.py)
        with waiting(), computed_once(state_dir, key):
            if (known := store.get_flag(key)) is None:
                result = compute()
                store.set_flag(key, result.model_dump_json())
                return result, False
    return HoldoutRun.from_outputs(json.loads(known)), True


def record_calibration(store: Store, key: str, result: HoldoutRun) -> None:
    """The journeys of ``result`` (on the tree of ``key``, set up as production would set it
    up) calibrate that tree, each check once, if they all passed (a learned check's replays
    too, which ``journeys_passed`` does not count), unless it is calibrated already."""
    if (
        result.journeys_passed
        and all(j.passed for j in result.journeys)
        and store.get_flag(key) is None
    ):
        once = {j.name: j for j in result.journeys}  # a check replayed is one check
        kept = result.evolve(journeys=[*once.values()])
        journeys = HoldoutRun.from_outputs(kept.model_dump(exclude={"tests", "validator"}))
        store.set_flag(key, journeys.model_dump_json())
