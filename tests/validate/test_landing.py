"""Production's merge queue: the landing lease, taken at a run's merge step and kept to its
end, is exclusive across threads and processes sharing the state; taking it again renews
it; a holder that died is taken over."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

from harness.implement.run import holder_id
from harness.store.db import Store
from harness.store.leases import LANDING_LEASE
from harness.validate.landing import give_back_landing, take_landing


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
        take_landing(mine, me, poll_s=0.01)
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
    take_landing(store, me, wait_s=5.0)
    assert store.lease_holder(LANDING_LEASE) == me
