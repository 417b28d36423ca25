"""CPU slots (harness/cpu.py): the runs of one process use the CPUs first come, first served,
give their CPU slot away while they wait outside the process, and never deadlock on one.

No test here depends on timing: each waits for the state it needs (a deadline only turns a
hang into a failure) and the CPU slots under test either wait for ever or not at all."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from harness import cpu as cpu_module
from harness.artifacts import HoldoutRun, Queue
from harness.caches import PROCESS
from harness.config.settings import load_settings
from harness.cpu import CpuSlots, Slots
from harness.engine.actions import action
from harness.engine.context import StepContext
from harness.engine.runner import Engine
from harness.errors import FactoryError
from harness.model.agent import checked_call
from harness.model.base import CallRecord
from harness.sandbox.bwrap import Sandbox, sandbox_available
from harness.sandbox.limits import Limits
from harness.sandbox.warm import Warm
from harness.services import open_services
from harness.store.db import Store
from harness.store.leases import LANDING_LEASE, holder_id
from harness.validate import landing
from harness.validate.actions import ci
from harness.validate.calibration import cached_or_computed
from harness.validate.landing import give_back_landing, take_landing
from tests.cli_helpers import use_actions
from tests.factory_repo import git, make_factory_repo

LIMIT_S = 30  # a hang fails the test after this; nothing waits for it otherwise


def _until(ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + LIMIT_S
    while not ready():
        assert time.monotonic() < deadline, "the state waited for never came"
        time.sleep(0.005)


def _started(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def _joined(*threads: threading.Thread) -> None:
    for thread in threads:
        thread.join(LIMIT_S)
        assert not thread.is_alive(), "a thread never ended"


@pytest.fixture
def one(monkeypatch: pytest.MonkeyPatch) -> CpuSlots:
    """The process's CPU slots, one at a time and waited for as long as it takes."""
    cpu = PROCESS.part(CpuSlots)
    monkeypatch.setattr(cpu, "slots", Slots(1))
    monkeypatch.setattr(cpu_module, "PATIENCE_S", None)
    return cpu


def _holding(cpu: CpuSlots) -> tuple[threading.Thread, threading.Event]:
    """A run that holds the one CPU slot until the event is set."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with cpu.working():
            holding.set()
            release.wait(LIMIT_S)

    thread = _started(hold)
    assert holding.wait(LIMIT_S)
    return thread, release


def test_cpu_slots_go_first_come_first_served(one: CpuSlots) -> None:
    holder, release = _holding(one)
    order: list[str] = []

    def run(name: str) -> Callable[[], None]:
        def work() -> None:
            with one.working():
                order.append(name)

        return work

    waiting = []
    for number, name in enumerate(["first", "second", "third"], start=1):
        waiting.append(_started(run(name)))
        _until(lambda n=number: len(one.slots.waiting) == n)  # type: ignore[misc]
    release.set()
    _joined(holder, *waiting)
    assert order == ["first", "second", "third"]
    assert one.slots.free == 1


def test_a_slot_given_back_wakes_the_one_taker_it_goes_to(one: CpuSlots) -> None:
    """A waiting taker sleeps until a slot is handed to it: a slot given back wakes the first
    in rank alone, the others sleep on (sixteen runs woken at every turn, each to wait again,
    cost CPU for nothing)."""
    holder, release = _holding(one)
    took: list[int] = []
    takers = []
    for rank in (7, 3, 5):
        takers.append(_started(lambda r=rank: took.append(r) if one.slots.take(r) else None))
        _until(lambda n=len(takers): len(one.slots.waiting) == n)  # type: ignore[misc]
    release.set()  # the holder's slot: to rank 3 alone
    _until(lambda: took == [3])
    _joined(holder)
    assert [(rank, handed.is_set()) for rank, handed in one.slots.waiting] == [
        (5, False),
        (7, False),
    ]
    one.slots.give()
    _until(lambda: took == [3, 5])
    one.slots.give()
    _joined(*takers)
    assert took == [3, 5, 7] and one.slots.free == 0 and not one.slots.waiting


def test_a_run_waiting_outside_the_process_gives_its_cpu_slot_away_and_asks_again_behind(
    one: CpuSlots,
) -> None:
    order: list[str] = []
    away, other_done = threading.Event(), threading.Event()

    def waits_outside() -> None:
        with one.working():
            order.append("work before the wait")
            with one.waiting():
                away.set()
                assert other_done.wait(LIMIT_S)  # another run worked meanwhile
            order.append("work after the wait")

    def other() -> None:
        assert away.wait(LIMIT_S)
        with one.working():
            order.append("another run's work")
        other_done.set()

    _joined(_started(waits_outside), _started(other))
    assert order == ["work before the wait", "another run's work", "work after the wait"]
    assert one.slots.free == 1


def test_a_run_inside_a_run_shares_its_cpu_slot_and_waiting_outside_a_run_is_nothing(
    one: CpuSlots,
) -> None:
    with one.waiting():
        assert one.slots.free == 1  # not in a run: no CPU slot to give
    with one.working():
        with one.working():  # would wait for ever if it asked for a second CPU slot
            assert one.slots.free == 0
            with one.waiting():
                with one.waiting():
                    assert one.slots.free == 1
            assert one.slots.free == 0
        assert one.slots.free == 0
    assert one.slots.free == 1


def test_a_cpu_slot_is_an_order_never_a_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no patience left, a run goes on without a CPU slot, and gives back none it lacks."""
    monkeypatch.setattr(cpu_module, "PATIENCE_S", 0)
    cpu = CpuSlots()
    cpu.slots = Slots(1)
    holder, release = _holding(cpu)
    with cpu.working():  # the one CPU slot is held: this run goes on without
        assert cpu.slots.free == 0
        with cpu.waiting():
            assert cpu.slots.free == 0
        assert cpu.slots.free == 0
    assert cpu.slots.free == 0  # the holder's CPU slot is still its own
    release.set()
    _joined(holder)
    assert cpu.slots.free == 1


class _Hooks:
    def before_call(self, request: dict[str, Any]) -> None:
        pass

    def after_call(self, record: CallRecord) -> None:
        pass


class _Model:
    """Answers only once another run has had a CPU slot while it was asked."""

    kind = "scripted"

    def __init__(self, cpu: CpuSlots, others: threading.Event) -> None:
        self.cpu, self.others = cpu, others

    def create(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.others.wait(LIMIT_S), "no other run got a CPU slot during the model call"
        return {"content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn"}


def test_a_run_gives_its_cpu_slot_away_while_the_model_answers(one: CpuSlots) -> None:
    others, answered = threading.Event(), threading.Event()
    model = _Model(one, others)

    def run() -> None:
        with one.working():
            checked_call(model, _Hooks(), {"model": "claude-sonnet-4-5", "messages": []})
            answered.set()

    def other() -> None:
        _until(lambda: one.slots.free == 1)  # the run is waiting for the model
        with one.working():
            others.set()

    _joined(_started(run), _started(other))
    assert answered.is_set()


@pytest.mark.sandbox
@pytest.mark.skipif(not sandbox_available(), reason="bubblewrap (bwrap) is not installed")
def test_a_run_gives_its_cpu_slot_away_while_its_sandboxed_command_runs(
    one: CpuSlots, tmp_path: Path
) -> None:
    worktree = tmp_path / "wt"
    worktree.mkdir()
    box = Sandbox(worktree, Limits(timeout_s=LIMIT_S))
    found: list[int] = []

    def run() -> None:
        with one.working():  # the command ends when another run has had a CPU slot
            found.append(box.run("while [ ! -e other-ran ]; do sleep 0.01; done").exit_code)

    def other() -> None:
        _until(lambda: one.slots.free == 1)
        with one.working():
            (worktree / "other-ran").write_text("")

    _joined(_started(run), _started(other))
    assert found == [0]


SEEN: list[bool] = []


@action("test.slot_held")
def _slot_held(ctx: StepContext) -> dict[str, Any]:
    cpu = PROCESS.part(CpuSlots)
    SEEN.append(cpu.slots.take(rank=-1, patience_s=0))  # another run asks: none is free
    return {}


def test_an_engine_run_holds_a_cpu_slot(
    one: CpuSlots, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_actions(monkeypatch, _slot_held)
    SEEN.clear()
    repo = make_factory_repo(tmp_path / "repo")
    folder = repo / ".factory" / "workflows"
    folder.mkdir(parents=True)
    (folder / "held.yaml").write_text("name: held\nsteps:\n  - {id: one, action: test.slot_held}\n")
    git(repo, "add", "-f", str(folder / "held.yaml"))
    git(repo, "commit", "-q", "-m", "workflow override")
    outcome = Engine(open_services(repo, tmp_path / "state")).run("held")
    assert outcome.status == "succeeded", outcome
    assert SEEN == [False]  # the run held the one CPU slot while its step ran
    assert one.slots.free == 1  # and gave it back at its end


@action("test.two_at_a_time")
def _two_at_a_time(ctx: StepContext) -> Queue:
    return Queue(issues=[1], width=2)


def test_a_stage_worker_holds_a_cpu_slot_from_its_first_line(
    one: CpuSlots, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a worker's services (the store, the forge) is work like the run's: sixteen
    workers that did it at once, outside their cpu, slowed the runs that held them. A stage
    of the engine's (a ``workflow:`` step, K at a time) gives each worker its CPU slot first."""
    use_actions(monkeypatch, _two_at_a_time)
    seen: list[bool] = []

    def opening() -> Any:
        seen.append(one.slots.take(rank=-1, patience_s=0))  # another run asks: none is free
        raise FactoryError("stop here")

    repo = make_factory_repo(tmp_path / "repo")
    folder = repo / ".factory" / "workflows"
    folder.mkdir(parents=True)
    (folder / "fan.yaml").write_text(
        "name: fan\nsteps:\n  - {id: queue, action: test.two_at_a_time}\n"
        "  - {id: each, workflow: triage, each: queue}\n"
    )
    git(repo, "add", "-f", str(folder / "fan.yaml"))
    git(repo, "commit", "-q", "-m", "workflow override")
    services = open_services(repo, tmp_path / "state")
    services.forge.create_issue("An issue", "Its body.", "someone")  # the stage's issue 1
    monkeypatch.setattr(services, "reopen", opening)
    outcome = Engine(services).run("fan")
    assert outcome.status == "failed" and "stop here" in str(outcome.reason), outcome
    assert seen == [False]
    assert one.slots.free == 1  # given back at the worker's end


def test_a_run_waiting_for_the_landing_lease_gives_its_cpu_slot_to_the_landing_run(
    one: CpuSlots, tmp_path: Path
) -> None:
    """The change landing needs CPU slots to finish; the one waiting for it must not hold one."""
    store = Store.open(tmp_path / "state")
    landing, waiting_run = holder_id(), holder_id()
    store.acquire_lease(LANDING_LEASE, landing, 3600.0)
    landed = threading.Event()

    def waits() -> None:
        with one.working():
            take_landing(Store.open(tmp_path / "state"), waiting_run)
        landed.set()

    def lands() -> None:
        _until(lambda: one.slots.free == 1)  # the other run is waiting for the lease
        with one.working():
            give_back_landing(Store.open(tmp_path / "state"), landing)

    _joined(_started(waits), _started(lands))
    assert landed.is_set()
    assert store.lease_holder(LANDING_LEASE) == waiting_run


def test_a_run_computing_a_calibration_others_wait_for_asks_for_no_cpu_slot_under_its_lock(
    one: CpuSlots, tmp_path: Path
) -> None:
    """The run computing production's calibration holds the lock the others wait on: it must
    not ask for a CPU slot under it (its checks give the CPU slot away, then would ask again), and
    the others must not hold CPU slots while they wait for it."""
    state = tmp_path / "state"
    Store.open(state).close()
    key = "baseline:tree:holdout"
    other_waits, answers = threading.Event(), []

    def compute() -> HoldoutRun:
        other_waits.wait(LIMIT_S)
        _until(lambda: one.slots.free == 1)  # the other run waits for this lock, slotless
        with one.waiting():  # the checks
            pass
        return HoldoutRun(sha="c" * 40, tree="t" * 40, journeys=[], journeys_passed=True)

    def validate(first: bool) -> None:
        if not first:
            _until(lambda: one.slots.free == 1)  # the first run is computing
            other_waits.set()
        with one.working():
            answers.append(cached_or_computed(Store.open(state), state, key, compute)[1])

    _joined(_started(lambda: validate(True)), _started(lambda: validate(False)))
    assert sorted(answers) == [False, True]  # computed once, read once
    assert one.slots.free == 1


def test_a_run_reading_a_known_calibration_and_joining_the_queue_keeps_its_cpu_slot(
    one: CpuSlots, tmp_path: Path
) -> None:
    """A cached baseline waits for nothing: its calibration known already and its place in the
    merge queue are a few statements under no wait. A run that gave its CPU slot away for them
    asked again behind every run waiting for one (seconds each in a stage of many validations,
    with no CPU spent); it keeps it, and the run waiting goes after it."""
    state = tmp_path / "state"
    store = Store.open(state)
    key = "baseline:tree:holdout"
    known = HoldoutRun(sha="c" * 40, tree="t" * 40, journeys=[], journeys_passed=True)
    store.set_flag(key, known.model_dump_json())
    order: list[str] = []

    def other() -> None:
        with one.working():
            order.append("the run waiting")

    def computed() -> HoldoutRun:
        raise AssertionError("a known calibration computed again")

    with one.working():
        waiter = _started(other)
        _until(lambda: bool(one.slots.waiting))  # the other run waits for the one slot
        assert cached_or_computed(store, state, key, computed) == (known, True)
        assert landing.join(store, state, "r-1", 1, "h" * 40, holder_id()) == []
        order.append("the cached baseline")
    _joined(waiter)
    assert order == ["the cached baseline", "the run waiting"]
    assert one.slots.free == 1


def test_a_validation_whose_ci_has_finished_keeps_its_cpu_slot(
    one: CpuSlots, tmp_path: Path
) -> None:
    """validate.ci gives its CPU slot away only while CI still runs: a run that gave it away
    for a CI already finished asked again behind every run waiting for one."""
    repo = make_factory_repo(tmp_path / "repo")
    services = open_services(repo, tmp_path / "state")
    head = git(repo, "rev-parse", "HEAD").strip()
    services.store.set_ci(head, "success")
    order: list[str] = []

    def other() -> None:
        with one.working():
            order.append("the run waiting")

    with one.working():
        waiter = _started(other)
        _until(lambda: bool(one.slots.waiting))  # the other run waits for the one slot
        said = ci(
            cast(Any, SimpleNamespace(services=services)), cast(Any, SimpleNamespace(head=head))
        )
        order.append("the validation")
    _joined(waiter)
    assert said == {"state": "success", "waited_s": 0.0}
    assert order == ["the validation", "the run waiting"]
    services.store.close()


@pytest.mark.sandbox
def test_a_run_waiting_for_the_warm_analysers_holds_no_cpu_slot(
    one: CpuSlots, tmp_path: Path
) -> None:
    """Requests to the warm analysers are served one at a time under a lock: a run waiting for it has
    given its CPU slot away, or the run holding it could never take its CPU slot back."""
    settings = load_settings(make_factory_repo(tmp_path / "r"), tmp_path / "state")
    warm = Warm(settings, Limits(timeout_s=LIMIT_S), [])
    folder = warm.folder / "f"
    folder.mkdir()
    answers: list[str] = []
    asking = threading.Event()

    def ask(shell: str) -> None:
        with one.working():
            asking.set()
            answers.append(warm.run(folder, [{"shell": shell}])[0][0])

    try:
        first = _started(lambda: ask("touch started; while [ ! -e go ]; do sleep 0.01; done"))
        _until(lambda: (folder / "started").exists() and one.slots.free == 1)
        asking.clear()
        second = _started(lambda: ask("echo second"))
        assert asking.wait(LIMIT_S)
        _until(lambda: one.slots.free == 1)  # the second waits for the lock, slotless
        (folder / "go").write_text("")
        _joined(first, second)
    finally:
        warm.stop()
    assert answers == ["", "second\n"]


def test_a_validator_queued_behind_two_long_suites_starts_before_the_second_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the checks' real scheduler (``_run_checks``, two checks at a time): one
    validation's two whole suites hold half the slots at most, so another validation's
    validator, queued behind them and lower in the merge queue, starts while one suite runs
    and before the other has begun. Nothing waits on time: each check ends when told."""
    from types import SimpleNamespace

    from harness.validate import evidence
    from harness.validate.evidence import _run_checks

    settings = SimpleNamespace(
        config=SimpleNamespace(validation=SimpleNamespace(parallel_checks=2))
    )
    started = {name: threading.Event() for name in ("suite 1", "suite 2", "validator")}
    release = threading.Event()

    def check(name: str) -> Callable[[], str]:
        def run() -> str:
            started[name].set()
            assert release.wait(LIMIT_S), "never released"
            return name

        return run

    monkeypatch.setattr(evidence, "_rank", lambda ctx: ctx.rank)  # its place in the queue
    slots = (Slots(2), Slots(1))  # this test's own: a check another test left running holds none
    monkeypatch.setattr(evidence, "_slots", lambda size: slots)

    def validate(checks: list[str], rank: int, suites: int = 0) -> None:
        ctx = SimpleNamespace(services=SimpleNamespace(settings=settings), rank=rank)
        results.append(_run_checks(ctx, [check(c) for c in checks], suites))  # type: ignore[arg-type]

    results: list[list[str]] = []
    suites = _started(lambda: validate(["suite 1", "suite 2"], rank=1, suites=2))
    _until(lambda: len(slots[1].waiting) == 1)  # one suite runs, the other is queued
    validator = _started(lambda: validate(["validator"], rank=2))
    assert started["validator"].wait(LIMIT_S), "the validator waited behind both suites"
    assert started["suite 1"].is_set() != started["suite 2"].is_set()  # one of them has begun
    release.set()
    _joined(suites, validator)
    assert sorted(map(tuple, results)) == [("suite 1", "suite 2"), ("validator",)]
