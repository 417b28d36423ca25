"""Production's merge queue: the landing lease, taken at a run's merge step and kept to its
end, is exclusive across threads and processes sharing the state; taking it again renews
it; a holder that died is taken over. The queue's order: changes are built on those ahead
of them and take their turn when those have left."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

from harness.git.repo import GitRepo
from harness.store.db import Store
from harness.store.leases import LANDING_LEASE, holder_id
from harness.validate.landing import (
    Entry,
    ahead_of,
    give_back_landing,
    join,
    leave,
    place,
    speculative_base,
    take_landing,
    wait_for_those_ahead,
)
from tests.conftest import git


def test_a_second_landing_waits_for_the_first_to_give_it_back(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state")
    inside, release = threading.Event(), threading.Event()
    order: list[str] = []
    first_holder = holder_id()

    def first() -> None:
        mine = Store.open(tmp_path / "state")
        take_landing(mine, first_holder)
        take_landing(mine, first_holder)  # again, as a rebuilt candidate's merge step does
        order.append("first in")
        inside.set()
        release.wait(30)
        order.append("first out")
        give_back_landing(mine, first_holder)

    def second() -> None:
        inside.wait(30)
        mine, me = Store.open(tmp_path / "state"), holder_id()
        take_landing(mine, me)
        order.append("second in")
        give_back_landing(mine, me)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    inside.wait(30)
    # the second is trying all along: whenever it tries, it must not get in before the first
    # gives the lease back — the order below shows it
    threading.Event().wait(0.3)
    assert store.lease_holder(LANDING_LEASE) == first_holder
    release.set()
    for t in threads:
        t.join(30)
    assert order == ["first in", "first out", "second in"]
    assert store.lease_holder(LANDING_LEASE) is None


def test_a_landing_holder_that_died_is_taken_over(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state")
    proc = subprocess.Popen(["true"])  # a process that has exited: its pid is free
    proc.wait()
    gone = f"{holder_id().split(':')[0]}:{proc.pid}:0000"
    store.acquire_lease(LANDING_LEASE, gone, 600.0)
    me = holder_id()
    take_landing(store, me)
    assert store.lease_holder(LANDING_LEASE) == me


def _commit(repo: Path, name: str, text: str, parent: str) -> str:
    """A commit on ``parent`` that writes ``name`` (a branch head, as a PR's would be)."""
    git(repo, "checkout", "-q", "--detach", parent)
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-qm", f"write {name}")
    return GitRepo(repo).rev_parse("HEAD") or ""


def test_the_queue_keeps_the_order_changes_joined_in_and_drops_what_left_or_died(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    store = Store.open(state)
    first, second, third = holder_id(), holder_id(), holder_id()
    assert join(store, state, "run-a", 1, "a" * 40, first) == []
    assert [e.issue for e in join(store, state, "run-b", 2, "b" * 40, second)] == [1]
    assert [e.issue for e in join(store, state, "run-c", 3, "c" * 40, third)] == [1, 2]
    # joining again (validated again) keeps the place
    assert [e.issue for e in join(store, state, "run-b", 2, "b" * 40, second)] == [1]
    assert place(store, "run-c") == 2
    leave(store, state, first)
    assert [e.issue for e in ahead_of(store, "run-c")] == [2]
    # a validation whose process is gone holds no place
    proc = subprocess.Popen(["true"])
    proc.wait()
    gone = f"{holder_id().split(':')[0]}:{proc.pid}:0000"
    join(store, state, "run-d", 4, "d" * 40, gone)
    assert [e.issue for e in join(store, state, "run-e", 5, "e" * 40, holder_id())] == [2, 3]
    leave(store, state, second)
    leave(store, state, third)
    assert place(store, "run-e") == 0


def test_a_candidate_is_built_on_the_changes_ahead_and_skips_one_that_does_not_merge(
    empty_repo: Path,
) -> None:
    repo = GitRepo(empty_repo)
    production = repo.rev_parse("main") or ""
    a = _commit(empty_repo, "a.txt", "a\n", production)
    b = _commit(empty_repo, "b.txt", "b\n", production)
    clash = _commit(empty_repo, "a.txt", "not a\n", production)  # conflicts with a
    ahead = [Entry(1, "r1", 1, a, "h1"), Entry(2, "r2", 2, clash, "h2"), Entry(3, "r3", 3, b, "h3")]
    base, carried = speculative_base(repo, production, ahead)
    assert carried == [1, 3]
    assert repo.read_blob(base, "a.txt") == b"a\n" and repo.read_blob(base, "b.txt") == b"b\n"
    assert speculative_base(repo, production, []) == (production, [])


def test_a_turn_comes_when_every_change_ahead_has_left(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = Store.open(state)
    ahead, me = holder_id(), holder_id()
    join(store, state, "run-a", 1, "a" * 40, ahead)
    join(store, state, "run-b", 2, "b" * 40, me)
    looks: list[int] = []

    def still() -> None:  # called between looks: the change ahead finishes on the third
        looks.append(1)
        if len(looks) == 3:
            leave(Store.open(state), state, ahead)

    wait_for_those_ahead(store, "run-b", still)
    assert len(looks) == 3 and ahead_of(store, "run-b") == []
