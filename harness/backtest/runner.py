"""``factory backtest``: every case rehearsed, ``max_parallel`` at a time, within the
factory's budgets and kill switch, resumed after a kill without redoing a finished case
(docs/backtest.md, "Parallel, resumable, within budgets"; recorded under the fingerprint of
its cases and governance: ``harness/store/backtests.py``)."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from harness.artifacts import HoldoutRun
from harness.backtest.cases import (
    Case,
    history_cases,
    manifest_cases,
    manifest_source,
    read_manifest,
)
from harness.backtest.grade import grade, hidden_files
from harness.backtest.rehearse import rehearse, what_became
from harness.backtest.report import (
    BacktestReport,
    CaseRow,
    case_row,
    changes,
    error_row,
    not_rehearsed,
    summarise,
    unfinished_row,
)
from harness.backtest.scratch import (
    Place,
    Rehearsed,
    clear_worktrees,
    rehearsed_governance,
    released,
    scratch_issue,
    scratch_repository,
    scratch_services,
    scratch_settings,
)
from harness.digest import sha256
from harness.engine.budget import check_caps, start_of_day
from harness.engine.context import Services
from harness.engine.killswitch import check_kill_switch
from harness.engine.runner import Engine
from harness.errors import BudgetExceeded, FactoryError, LeaseError, StoppedError, UsageError
from harness.faults import fault_point
from harness.git.repo import GitRepo
from harness.services import open_services
from harness.store.backtests import BACKTEST_LEASE, BacktestRecord
from harness.store.db import Store
from harness.store.leases import holder_id

Progress = Callable[[str], None]
LEASE_TTL_S = 24 * 3600.0


@dataclass(frozen=True)
class Request:
    """What ``factory backtest`` was asked for."""

    limit: int | None = None
    issues: tuple[int, ...] = ()
    manifest: Path | None = None
    governance: str | None = None
    provider: str | None = None
    max_parallel: int | None = None
    cap: tuple[str, float] | None = None  # an allowance of the caller's: (its name, USD)


@dataclass(frozen=True)
class Backtest:
    """One backtest under way: the factory's own services (its store keeps the results; its
    kill switch and budgets hold), the governance rehearsed, where the commits come from."""

    real: Services
    record: BacktestRecord
    rehearsed: Rehearsed
    source: GitRepo
    provider: str | None
    progress: Progress
    cap: tuple[str, float] | None

    @property
    def folder(self) -> Path:
        return self.real.settings.state_dir / "backtest" / self.record.id


def collect(real: Services, request: Request) -> tuple[list[Case], GitRepo, str]:
    """The cases (and the repository their commits are in, and a word for where they came
    from): a manifest's, or the production branch's fixes."""
    paths = real.settings.config.backtest.test_paths
    if request.manifest is not None:
        if request.issues:
            raise UsageError(
                "--issue selects fixes of this repository's history, not of a manifest"
            )
        file = request.manifest
        manifest = read_manifest(file)
        cache = real.settings.state_dir / "backtest" / "sources"
        source = manifest_source(manifest, file, real.repo, cache)
        cases = manifest_cases(manifest, source, str(file), paths)
        return cases[: request.limit] if request.limit else cases, source, f"manifest {file}"
    branch = real.settings.config.production_branch
    cases = history_cases(real, request.issues, request.limit)
    return cases, real.repo, f"history of {branch}"


def fingerprint(rehearsed: Rehearsed, provider: str, cases: list[Case]) -> str:
    data = [rehearsed.commit, provider, [[c.key, list(c.tests)] for c in cases]]
    return sha256(json.dumps(data))


@contextmanager
def held(store: Store) -> Iterator[None]:
    """One backtest at a time on a state (a killed holder is taken over)."""
    holder = holder_id()
    try:
        store.acquire_lease(BACKTEST_LEASE, holder, LEASE_TTL_S)
    except LeaseError:
        who = store.lease_holder(BACKTEST_LEASE) or "another process"
        raise LeaseError(
            f"a backtest is under way on this state ({who}); try again later"
        ) from None
    try:
        yield
    finally:
        store.release_lease(BACKTEST_LEASE, holder)


def left_behind(store: Store, state_dir: Path) -> list[Path]:
    """What the cases of the backtests of ``state_dir`` kept on tmpfs and a kill left there
    (``factory prune``), removed under the backtest's lease: none while one is under way.
    Their scratch states stay."""
    with contextlib.suppress(LeaseError), held(store):
        return [p for state in (state_dir / "backtest").glob("*/*/state") for p in released(state)]
    return []


def _gate(
    bt: Backtest, case: Case, services: Services, spent_s: Callable[[], float], stage: str
) -> None:
    """Before a stage: the case's progress recorded, then the factory's kill switch and the
    per-day budget (what the case may still spend counted as spent); the stage it starts
    is said."""
    real = bt.real
    cost = services.store.spend()
    real.store.case_progress(bt.record.id, case.id, cost, spent_s())
    check_kill_switch(real)
    budgets = real.settings.governance.rules.budgets
    today = real.store.spend(since=start_of_day(real.clock()))
    caps = [("per_day_usd", budgets.per_day_usd, today)]
    if bt.cap is not None:  # what this backtest's cases spent so far, against the allowance
        spent = sum(c.cost_usd for c in real.store.backtest_cases(bt.record.id))
        caps.append((*bt.cap, spent))
    check_caps(caps, max(0.0, budgets.per_issue_usd - cost))
    if stage:
        bt.progress(f"  case {case.id}: {stage} …")


def misfit(services: Services) -> str | None:
    """Why the hold-out does not fit the case's base, found before any model call: validation's
    own calibration on the scratch production (``validate.calibrate``), computed once and kept
    for the case's validation to read (None: its journeys pass, or none ran: set-up or the app
    failed there, which validation tells as inconclusive)."""
    ran = Engine(services).run("calibrate").artifact(HoldoutRun)
    if ran is None or ran.journeys_passed:
        return None
    failed = sum(not j.passed for j in ran.journeys)
    journeys = f"{failed} of {len(ran.journeys)} journeys"
    return f"the hold-out does not fit this base: {journeys} fail on {ran.sha}"


def _rehearsed_row(
    bt: Backtest, case: Case, services: Services, gate: Callable[[str], None]
) -> CaseRow | None:
    """The case's row, or None while a run of it waits (stopped, or deferred by the provider)."""
    if (why := misfit(services)) is not None:
        return not_rehearsed(case, "done", why, services.store.spend(), 0.0)
    number = scratch_issue(services, case)
    if not rehearse(services, number, gate):
        return None
    became = what_became(services, number)
    graded = None
    if became.head is not None:
        branch = services.settings.config.production_branch
        trusted = services.repo.rev_parse(f"refs/heads/{branch}") or became.head
        hidden = hidden_files(bt.source, case.fix, case.tests)
        bt.progress(f"  case {case.id}: grading with the hidden tests …")
        graded = grade(services, became.head, trusted, hidden, number)
    return case_row(case, became, graded, services.store.spend())


WAITING = "a run of it waits (the provider asked to wait, or it was stopped)"


def one_case(bt: Backtest, case: Case, before_s: float) -> str | None:
    """Rehearse ``case`` and keep its row; the reason it stopped, if it did."""
    started = time.monotonic()

    def spent_s() -> float:
        return before_s + time.monotonic() - started

    services: Services | None = None
    try:
        place = Place(bt.folder / case.slug)
        scratch_repository(place, case, bt.source, bt.rehearsed)
        settings = scratch_settings(place, bt.real.settings, bt.provider)
        services = scratch_services(settings, bt.provider, bt.real.store)
        gate = partial(_gate, bt, case, services, spent_s)
        row = _rehearsed_row(bt, case, services, gate)
        if row is None:
            gate("")
            return WAITING
    except (StoppedError, BudgetExceeded) as exc:
        if services is not None:
            bt.real.store.case_progress(bt.record.id, case.id, services.store.spend(), spent_s())
        return str(exc)
    except FactoryError as exc:
        row = error_row(case, str(exc), services.store.spend() if services else 0.0)
    finally:
        if services is not None:
            services.store.close()
    if services is not None:  # done: its worktrees go, its scratch state stays as evidence
        with contextlib.suppress(FactoryError):
            clear_worktrees(services)
    row = row.evolve(seconds=round(spent_s(), 1))
    result = row.model_dump(mode="json")
    bt.real.store.finish_case(bt.record.id, case.id, result, row.cost_usd, spent_s())
    fault_point("backtest.case.done")
    return None


def run_cases(bt: Backtest, cases: list[Case], width: int) -> list[str]:
    """Every case not finished yet, ``width`` at a time; the reasons cases stopped."""
    rows = {row.case_id: row for row in bt.real.store.backtest_cases(bt.record.id)}
    todo = [c for c in cases if rows[c.id].status != "done"]
    stops: list[str] = []
    if not todo:
        return stops
    bt.progress(f"{len(todo)} case(s) to rehearse, {width} at a time …")
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="backtest") as pool:
        futures = [(c, pool.submit(one_case, bt, c, rows[c.id].seconds)) for c in todo]
        for case, future in futures:
            stopped = future.result()
            bt.progress(f"  case {case.id}: " + (f"stopped: {stopped}" if stopped else "done"))
            if stopped:
                stops.append(stopped)
    return stops


def report(bt: Backtest, cases: list[Case], stops: list[str]) -> BacktestReport:
    """The rows, the summary and the comparison with the last backtest of each case; the
    backtest is finished once every case is."""
    store = bt.real.store
    stored = {row.case_id: row for row in store.backtest_cases(bt.record.id)}
    rows: list[CaseRow] = []
    for case in cases:
        found = stored[case.id]
        done = found.status == "done"
        row = CaseRow.model_validate(found.result) if done else unfinished_row(case, found)
        earlier = store.earlier_result(found.case_key, bt.record.id)
        if earlier is not None and done:
            changed = changes(row, CaseRow.model_validate(earlier[1]))
            row = row.evolve(changed=changed, compared_with=earlier[0])
        rows.append(row)
    summary = summarise(rows)
    if all(r.status == "done" for r in rows):
        store.finish_backtest(bt.record.id, summary.model_dump(mode="json"))
    return BacktestReport(
        backtest=bt.record.id,
        governance=bt.rehearsed.commit,
        rehearsed_edit=bt.rehearsed.edit,
        source=bt.record.source,
        cases=rows,
        summary=summary,
        stopped=stops[0] if stops else None,
    )


def _record(
    real: Services, rehearsed: Rehearsed, cases: list[Case], source: str, provider: str
) -> BacktestRecord:
    store = real.store
    print_ = fingerprint(rehearsed, provider, cases)
    found = store.unfinished_backtest(print_)
    if found is not None:
        return found
    backtest_id = f"bt-{secrets.token_hex(6)}"
    pairs = [(c.id, c.key) for c in cases]
    store.create_backtest(backtest_id, print_, rehearsed.commit, rehearsed.edit, source, pairs)
    record = store.backtest(backtest_id)
    assert record is not None
    return record


def run_backtest(
    root: Path, state: Path, request: Request, progress: Progress = lambda _: None
) -> BacktestReport:
    real = open_services(root, state, request.provider)
    try:
        check_kill_switch(real)
        branch = real.settings.config.production_branch
        rehearsed = rehearsed_governance(real.repo, branch, request.governance)
        cases, source, label = collect(real, request)
        provider = request.provider or real.settings.config.provider.type
        width = request.max_parallel or real.settings.config.max_parallel
        with held(real.store):
            record = _record(real, rehearsed, cases, label, provider)
            bt = Backtest(real, record, rehearsed, source, request.provider, progress, request.cap)
            stops = run_cases(bt, cases, width)
            return report(bt, cases, stops)
    finally:
        real.store.close()
