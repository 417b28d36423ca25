"""Calibration is computed once per tree and hold-out, whoever asks; checks share the CPUs,
the landing change's first."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from harness.artifacts import HoldoutRun
from harness.artifacts.browser import JourneyResult
from harness.cpu import Slots
from harness.store.db import Store
from harness.validate.calibration import cached_or_computed, record_calibration


def test_validations_starting_together_calibrate_production_once(tmp_path: Path) -> None:
    state = tmp_path / "state"
    Store.open(state).close()
    computed: list[int] = []
    answers: list[tuple[HoldoutRun, bool]] = []
    lock = threading.Lock()

    def compute() -> HoldoutRun:
        computed.append(1)
        time.sleep(0.3)  # long enough for every other thread to be waiting for it
        home = JourneyResult(name="home", passed=True, steps_run=2)
        return HoldoutRun(sha="c" * 40, tree="t" * 40, journeys=[home], journeys_passed=True)

    def validate() -> None:
        store = Store.open(state)
        try:
            answer = cached_or_computed(store, state, "baseline:tree:holdout", compute)
        finally:
            store.close()
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=validate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(computed) == 1
    assert sorted(cached for _, cached in answers) == [False, True, True, True]
    assert all(result == answers[0][0] for result, _ in answers)
    # another key (another tree, or an edited hold-out) is computed on its own
    store = Store.open(state)
    _, cached = cached_or_computed(store, state, "baseline:other:holdout", compute)
    assert not cached and len(computed) == 2


def test_only_journeys_that_all_passed_calibrate_a_tree(tmp_path: Path) -> None:
    """Whoever ran them (health, red tests or not; a candidate's check; a smoke run whose
    hold-out passed and a replay of a check it tried did not): a run with a failed journey
    calibrates nothing, the validation looks again (faults put back by hand: a red journey
    kept as the tree's calibration, caught; a failed replay kept, caught)."""
    store = Store.open(tmp_path / "state")
    seen = [JourneyResult("home", True, 2), JourneyResult("add", False, 1)]
    red = HoldoutRun(sha="c" * 40, tree="t" * 40, journeys=seen, journeys_passed=False)
    record_calibration(store, "baseline:tree:holdout", red)
    assert store.get_flag("baseline:tree:holdout") is None
    failed, passed = JourneyResult("learned:1-C1", False, 1), JourneyResult("learned:1-C1", True, 1)
    for replays in ([failed], [failed, passed]):  # not in journeys_passed; one of two failed
        tried = HoldoutRun(
            sha="c" * 40, tree="t" * 40, journeys=[seen[0], *replays], journeys_passed=True
        )
        record_calibration(store, "baseline:tree:holdout", tried)
        assert store.get_flag("baseline:tree:holdout") is None
    both = [seen[0], passed, passed]  # a check and its two replays: each check once
    green = HoldoutRun(sha="c" * 40, tree="t" * 40, journeys=both, journeys_passed=True)
    record_calibration(store, "baseline:tree:holdout", green)
    kept = HoldoutRun.model_validate_json(store.get_flag("baseline:tree:holdout") or "{}")
    assert kept.journeys == [seen[0], passed]
    store.close()


def test_the_landing_change_takes_the_next_free_slot_first_then_the_queue_s_order() -> None:
    slots = Slots(1)
    order: list[str] = []
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with slots.taken(rank=5):
            holding.set()
            release.wait()  # until every check waits: no deadline of its own

    def check(name: str, rank: int) -> None:
        with slots.taken(rank=rank):
            order.append(name)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait()
    waiting = [
        threading.Thread(target=check, args=("third in the queue", 3)),
        threading.Thread(target=check, args=("the landing change", 0)),
        threading.Thread(target=check, args=("first in the queue", 1)),
    ]
    for thread in waiting:
        thread.start()
    while len(slots.waiting) < 3:  # all three wait before the slot frees, however slow
        time.sleep(0.01)  # their start (the run's time limit bounds a hang)
    release.set()
    for thread in (holder, *waiting):
        thread.join()
    assert order == ["the landing change", "first in the queue", "third in the queue"]
