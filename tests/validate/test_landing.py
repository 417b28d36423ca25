"""Landings one at a time: production's landing lease, held across the SHA check, the merge
and the tree check, is exclusive across threads and processes sharing the state, and a holder
that died is taken over."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

from harness.implement.run import holder_id
from harness.store.db import Store
from harness.store.leases import LANDING_LEASE
from harness.validate.landing import landing_slot


def test_a_second_landing_waits_for_the_first(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state")
    inside, release = threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with landing_slot(Store.open(tmp_path / "state"), holder_id()):
            order.append("first in")
            inside.set()
            release.wait(30)
            order.append("first out")

    def second() -> None:
        inside.wait(30)
        with landing_slot(Store.open(tmp_path / "state"), holder_id(), poll_s=0.01):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    inside.wait(30)
    # the second is waiting now (or about to): whenever it tries, it must not get in before
    # the first leaves — the order below would show it
    threading.Event().wait(0.3)
    release.set()
    for t in threads:
        t.join(30)
    assert order == ["first in", "first out", "second in"]
    assert store.lease_holder(LANDING_LEASE) is None  # released after both


def test_a_landing_holder_that_died_is_taken_over(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state")
    proc = subprocess.Popen(["true"])  # a process that has exited: its pid is free
    proc.wait()
    gone = f"{holder_id().split(':')[0]}:{proc.pid}:0000"
    store.acquire_lease(LANDING_LEASE, gone, 600.0)
    with landing_slot(store, holder_id(), wait_s=5.0):
        assert store.lease_holder(LANDING_LEASE) != gone
