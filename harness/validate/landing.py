"""Production's merge queue: validations run in parallel, each on what would land, and land
in the order they joined, one at a time under production's landing lease (docs/how-it-works.md,
"The merge queue", says the rules and why)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.cpu import waiting
from harness.errors import GitError, LeaseError, StepFailed
from harness.forge.base import Forge
from harness.git.repo import GitRepo
from harness.store.db import Store
from harness.store.leases import LANDING_LEASE, holder_is_gone
from harness.validate.calibration import computed_once

LANDING_TTL_S = 4 * 3600.0  # a rebuilt candidate's tests, journeys and validator fit in it
QUEUE_FLAG = "landing:queue"  # the queue's entries, oldest first (JSON)
TURN_WAIT_S = 4 * 3600.0
INTENT = "validate.landing"  # the landing a run is about to make, before production moves


def take_landing(store: Store, holder: str) -> None:
    """Take production's landing lease for ``holder`` (again, if it holds it: the lease is
    renewed), waiting while another change lands — for as long as one may hold it."""
    deadline = time.monotonic() + LANDING_TTL_S
    with waiting():  # the run's CPU slot goes to the others, the landing one among them
        while True:
            try:
                store.acquire_lease(LANDING_LEASE, holder, LANDING_TTL_S)
                return
            except LeaseError as exc:
                if time.monotonic() >= deadline:
                    raise StepFailed(
                        f"production is busy landing another change: {exc}", {}
                    ) from exc
                time.sleep(0.2)


def give_back_landing(store: Store, holder: str) -> None:
    """Let the next change land (nothing happens unless ``holder`` holds the lease)."""
    store.release_lease(LANDING_LEASE, holder)


def landed_by(store: Store, forge: Forge, run: str) -> str | None:
    """The merge ``run`` made but did not record (killed right after it): the landing it
    recorded before production's ref moved (``INTENT``: the pull request, its head, the
    tested tree), which the forge has merged since."""
    intended = store.events(run_id=run, kind=INTENT)
    if not intended:
        return None
    pr = forge.find_pr(str(intended[-1].data["branch"]))
    return pr.merge_sha if pr is not None and pr.state == "merged" else None


def is_landing(store: Store, holder: str) -> bool:
    """Whether ``holder`` is the change landing now (its checks go first)."""
    return store.lease_holder(LANDING_LEASE) == holder


@dataclass(frozen=True)
class Entry:
    """One validation in the queue: its ``run``, the process-and-thread ``holder`` of its
    issue, the PR ``head`` it would land, and its place (``seq``, increasing)."""

    seq: int
    run: str
    issue: int
    head: str
    holder: str


def _entries(store: Store) -> list[Entry]:
    raw = store.get_flag(QUEUE_FLAG)
    return [Entry(**e) for e in json.loads(raw)] if raw else []


def _changed(
    store: Store, state_dir: Path, edit: Callable[[list[Entry]], list[Entry]]
) -> list[Entry]:
    """The queue after ``edit``, written under a lock that threads and processes sharing the
    state take; entries whose process is gone are dropped."""
    with computed_once(state_dir, QUEUE_FLAG):
        before = _entries(store)
        after = edit([e for e in before if not holder_is_gone(e.holder)])
        if after != before:
            store.set_flag(QUEUE_FLAG, json.dumps([asdict(e) for e in after]))
        return after


def join(
    store: Store, state_dir: Path, run: str, issue: int, head: str, holder: str
) -> list[Entry]:
    """Put ``run`` in the queue (kept in its place when it is there already, e.g. validating
    again): the entries ahead of it, oldest first."""

    def edit(entries: list[Entry]) -> list[Entry]:
        mine = next((e for e in entries if e.run == run), None)
        if mine is not None:
            return [Entry(e.seq, run, issue, head, holder) if e is mine else e for e in entries]
        seq = max((e.seq for e in entries), default=0) + 1
        return [*entries, Entry(seq, run, issue, head, holder)]

    return _ahead(_changed(store, state_dir, edit), run)


def leave(store: Store, state_dir: Path, holder: str) -> None:
    """Take ``holder``'s validation out of the queue (it ended, whatever became of it): the
    changes behind it take their turn."""
    if any(e.holder == holder for e in _entries(store)):
        _changed(store, state_dir, lambda entries: [e for e in entries if e.holder != holder])


def _ahead(entries: list[Entry], run: str) -> list[Entry]:
    mine = next((e for e in entries if e.run == run), None)
    return [e for e in entries if e.seq < mine.seq] if mine else []


def ahead_of(store: Store, run: str) -> list[Entry]:
    """The entries still ahead of ``run`` (those of live processes), oldest first."""
    return [e for e in _ahead(_entries(store), run) if not holder_is_gone(e.holder)]


def place(store: Store, run: str) -> int:
    """How many validations are ahead of ``run`` in the queue: its checks' priority."""
    return len(ahead_of(store, run))


def speculative_base(repo: GitRepo, production: str, ahead: list[Entry]) -> tuple[str, list[int]]:
    """Production with the heads of the changes ``ahead`` merged in, in queue order (one that
    does not merge onto those before it is left out: it cannot land as it is): the commit, and
    the issues whose changes it carries."""
    base, carried = production, []
    for entry in ahead:
        try:
            base = repo.merge_commit(base, entry.head, f"Queued: issue {entry.issue}")
        except GitError:
            continue
        carried.append(entry.issue)
    return base, carried


def wait_for_those_ahead(store: Store, run: str, still: Callable[[], None]) -> list[int]:
    """Wait until no change is ahead of ``run`` in the queue (``still`` is called between
    looks: the kill switch and the issue's lease), bounded by ``TURN_WAIT_S``: the issues it
    found ahead."""
    deadline = time.monotonic() + TURN_WAIT_S
    waited: list[int] = []
    with waiting():  # the run's CPU slot goes to the others, those ahead among them
        while ahead := ahead_of(store, run):
            waited += [e.issue for e in ahead if e.issue not in waited]
            if time.monotonic() >= deadline:
                issues = ", ".join(str(e.issue) for e in ahead)
                raise StepFailed(
                    f"the changes ahead in the merge queue did not finish: {issues}", {}
                )
            still()
            time.sleep(0.1)
    return waited
