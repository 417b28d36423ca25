"""Running the hold-out on one commit: a fresh worktree set up once, then every check — the
tests, each hold-out journey, the sealed validator when asked — on a fresh copy and app of its
own (docs/how-it-works.md, 'What "fresh" means for ``commands.start``')."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from harness.artifacts import (
    HoldoutRun,
    JourneyResult,
    KeptVerdict,
    Observation,
    Tested,
    ValidatorRun,
)
from harness.browser.chromium import in_browser
from harness.browser.drivers import Drivers
from harness.browser.journeys import HoldoutCheck, Learned, apps_for, load_holdout
from harness.caches import PROCESS, Memo
from harness.config.settings import Settings
from harness.config.testfiles import clipped, test_files
from harness.cpu import Slots, cpus, waiting
from harness.engine.agents import StepHooks, save_transcript
from harness.engine.context import Services, StepContext
from harness.engine.definition import load_sealed
from harness.errors import (
    ConfigErrors,
    ErrorKind,
    FactoryError,
    Inconclusive,
    StepFailed,
    carried,
)
from harness.faults import fault_point
from harness.git.repo import GitRepo
from harness.git.worktrees import WorktreeManager
from harness.model.agent import AgentHooks
from harness.sandbox.app import AppNotReady, AppProcess, free_port
from harness.sandbox.limits import Limits
from harness.sandbox.peers import socket_folder, socket_path
from harness.sandbox.policy import Prepared as PreparedTree
from harness.sandbox.policy import (
    copy_checkout,
    fresh_root,
    prepare_worktree,
    sealed_hidden_paths,
    worktree_sandbox,
)
from harness.sandbox.shared import within
from harness.validate.landing import is_landing, place
from harness.validate.sealed import SealRequest, ValidatorQuestion, run_sealed
from harness.validate.suite import (
    announce,
    decided_by,
    holds_flaky,
    host_seen,
    remember,
    reused,
)

INCONCLUSIVE_TRIES = 3  # a step the environment stopped is tried this often before a person
FRESH_MAX_AGE_S = 24 * 3600.0  # copies older than this were left by a killed run


def tree_of(repo: GitRepo, sha: str) -> str:
    """The tree of commit ``sha``, which must exist (one the harness made or read)."""
    tree = repo.tree_of(sha)
    if tree is None:
        raise StepFailed(f"commit {sha[:12]} is not in the repository", {}, ErrorKind.GIT)
    return tree


@contextmanager
def serving(settings: Settings, path: Path) -> Iterator[AppProcess]:
    """``commands.start`` in the worktree ``path``, on a free port, ready (or AppNotReady)."""
    commands = settings.config.commands
    assert commands.start is not None
    port = free_port()
    # no network, nothing but its worktree
    sandbox = worktree_sandbox(settings, path, Limits(timeout_s=24 * 3600))
    start = commands.start.format(port=port)
    with AppProcess(sandbox, start, port, commands.ready_path) as app:
        app.wait_ready(commands.ready_timeout_s)
        yield app


def journeys_against(
    settings: Settings,
    drivers: Drivers,
    app: AppProcess,
    journeys: list[HoldoutCheck],
    shots: Path,
) -> list[JourneyResult]:
    """Hold-out journeys and learned checks in a browser inside the app's network namespace."""
    from harness.browser.runner import run_journeys  # Playwright: what no health needs

    every_shot = settings.config.validation.screenshots == "all"
    return in_browser(
        drivers,
        lambda session: run_journeys(session, app.base_url, journeys, shots, every_shot),
        netns_pid=app.netns_pid,
        hidden=sealed_hidden_paths(settings),
    )


@contextmanager
def fresh_copy(settings: Settings, prepared: Path, name: str) -> Iterator[Path]:
    """A new copy of the prepared checkout ``prepared`` for one check, deleted afterwards
    (what runs in it sees it where setup ran: ``worktree_sandbox``)."""
    base = fresh_root(settings.state_dir)
    base.mkdir(mode=0o700, parents=True, exist_ok=True)  # no other user reads a copy
    now = time.time()
    for old in base.iterdir():  # leftovers of killed runs
        if old.is_dir() and now - old.stat().st_mtime > FRESH_MAX_AGE_S:
            shutil.rmtree(old, ignore_errors=True)
    path = base / name
    shutil.rmtree(path, ignore_errors=True)
    copy_checkout(prepared, path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def fresh_app(settings: Settings, prepared: Path, name: str) -> Iterator[AppProcess]:
    """``commands.start`` on a fresh copy of ``prepared``, ready to serve one check."""
    with fresh_copy(settings, prepared, name) as path, serving(settings, path) as app:
        yield app


@dataclass(frozen=True)
class Before:
    """Chosen ``tests`` run alone, files put back first as ``restore`` has them (None:
    absent): the fails-before proof (the change's tests on production's code), heal's re-run
    of the tests that failed (nothing put back)."""

    tests: list[str]
    restore: dict[str, bytes | None]


@dataclass(frozen=True)
class Checkout:
    """What every check of one commit shares: the prepared checkout at ``path`` of ``sha``
    built on ``trusted`` (see ``journeys_on``), the checks' names made from ``label``, their
    screenshots under ``shots``."""

    ctx: StepContext
    path: Path
    sha: str
    trusted: str
    label: str
    shots: Path


def _tests_on(at: Checkout, label: str, before: Before | None = None) -> Tested:
    """``commands.test`` on the prepared checkout of ``at.sha`` (a copy of it: what tests
    write never reaches the apps), in the sandbox without the network, its copy named after
    ``label``; with ``before``, only its tests (``commands.test_files``; the whole suite when
    no template fits) on the code the change replaces. A result on the commit's own tree is
    remembered by what decides it."""
    ctx, sha = at.ctx, at.sha
    services = ctx.services
    commands = services.settings.config.commands
    command = (before and test_files(commands, before.tests)) or commands.test
    restore = before.restore if before else {}
    key = (
        None if restore else decided_by(services.settings, services.repo, sha, at.trusted, command)
    )
    announce(services.store, ctx.run_id, ctx.issue, command, command == commands.test)
    with fresh_copy(services.settings, at.path, f"{ctx.run_id}-{label}-tests") as path:
        for name, data in restore.items():
            target = path / name
            target.unlink(missing_ok=True)
            if data is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        limits = Limits(timeout_s=commands.test_timeout_s)
        result = worktree_sandbox(services.settings, path, limits).run(command)
    ctx.timings["subprocess_s"] += result.duration_s
    if key is not None and result.limit_hit is None:
        remember(services.store, key, ctx.run_id)
    return Tested(
        command=command,
        exit_code=result.exit_code,
        output=clipped(result.output, 20_000),  # the tail, where runners sum up what failed
        tree=tree_of(services.repo, sha),
        duration_s=round(result.duration_s, 2),
        limit_hit=result.limit_hit,
        suite=command == commands.test,
        decided_by=key,
        host=host_seen(services.settings),
    )


def _journey_check(
    at: Checkout, number: int, group: list[HoldoutCheck]
) -> tuple[int, list[JourneyResult]]:
    """Hold-out check ``number`` — a journey, or learned checks (``apps_for``) — on a fresh app
    of its own: (the app's port, its results)."""
    ctx = at.ctx
    settings = ctx.services.settings
    with fresh_app(settings, at.path, f"{ctx.run_id}-{at.label}-journey{number}") as app:
        fault_point(f"validate.{at.label}.serving")  # crash tests: worktree and app up
        drivers = ctx.services.caches.part(Drivers, lasting=True)
        return app.port, journeys_against(settings, drivers, app, group, at.shots)


@dataclass(frozen=True)
class EarlierVerdict:
    """The validator's run on an earlier candidate of the same head, asked the same question,
    and how it may be kept: as it is when the candidates differ only in files the app cannot
    show (``unseen_only``), else if its recorded actions show the same on this one. ``how``:
    the record it is kept with (the earlier candidate, the files the two differ in, the run
    whose validator gave it: that run's own, when it too kept one)."""

    run: ValidatorRun
    how: KeptVerdict
    unseen_only: bool

    def kept(self, replayed: int = 0) -> ValidatorRun:
        how = self.how.evolve(replayed=replayed)
        return self.run.evolve(kept=how)


def _replayed(
    at: Checkout, question: ValidatorQuestion, observed: list[Observation]
) -> ValidatorRun:
    """The recorded actions ``observed`` done again, in the seal and without a model, on a
    fresh app of this commit: what each showed (``SealRequest.replay``)."""
    ctx = at.ctx
    with fresh_app(ctx.services.settings, at.path, f"{ctx.run_id}-{at.label}-replay") as app:
        hooks = StepHooks(ctx, question.model)
        return run_validator(ctx.services, question, 0.0, app, at.shots / "replay", hooks, observed)


def _validator_check(
    at: Checkout, question: ValidatorQuestion, earlier: EarlierVerdict | None
) -> ValidatorRun:
    """The sealed validator on a fresh app of its own, unless an ``earlier`` verdict is kept.
    Its recorded actions are done again first, without a model, on a fresh app: when every
    one shows exactly what it showed the validator, the validator would see the same app."""
    ctx, shots = at.ctx, at.shots
    if earlier is not None and earlier.unseen_only:
        return earlier.kept()
    if earlier is not None:
        again = _replayed(at, question, earlier.run.observed).observed
        if [o.seen for o in again] == [o.seen for o in earlier.run.observed]:
            return earlier.kept(replayed=len(again))
    with fresh_app(ctx.services.settings, at.path, f"{ctx.run_id}-{at.label}-validator") as app:
        return _sealed(ctx, app, shots, question)


def _sealed_check(
    at: Checkout,
    question: ValidatorQuestion,
    earlier: EarlierVerdict | None,
    replay: list[Observation] | None,
    replayed: list[tuple[int, list[JourneyResult]]],
) -> Callable[[], ValidatorRun]:
    """The validator's check: its ``replay`` done again, or asked (``_validator_check``) —
    told each learned check ``replayed`` that no longer holds on this app, as the validator
    wrote it (``prompts/learned_failing.md.j2``), and then asked anew, whatever an
    ``earlier`` verdict was."""
    if replay is not None:
        return partial(_replayed, at, question, replay)
    if failed := [r for _, found in replayed for r in found if not r.passed]:
        said = at.ctx.services.templates.render("prompts/learned_failing.md.j2", failed=failed)
        question = question.evolve(task=f"{question.task}\n\n{said}")
        earlier = None
    return partial(_validator_check, at, question, earlier)


def checks_at_once(settings: Settings) -> int:
    """How many checks of one commit run side by side: ``validation.parallel_checks``, or
    two per CPU (``cpu.cpus``: those this process may run on)."""
    wanted = settings.config.validation.parallel_checks
    return max(1, wanted if wanted is not None else 2 * cpus())


class _Slots(Memo[tuple[Slots, Slots]]):
    """``size`` checks at a time over every validation this process runs, so eight
    validations side by side share the CPUs instead of starting thirty apps at once. A free
    slot goes to the waiting check of lowest rank: the change that holds production's
    landing lease (0), then the merge queue's order (1 + how many changes are ahead), so the
    change whose turn comes next is the one checked first. A whole suite (long work) first
    takes one of half as many slots (one at least, kept ``long``): suites hold half the
    slots at most, and a short check (a journey, a validator, chosen tests) never waits for
    one to end unless one check runs at a time. One pair of ``Slots`` per size."""


def _slots(size: int) -> tuple[Slots, Slots]:
    return PROCESS.part(_Slots).get(size, lambda: (Slots(size), Slots(max(1, size // 2))))


def _run_checks(ctx: StepContext, checks: list[Callable[[], Any]], suites: int = 0) -> list[Any]:
    """Every check's result, in the order given; the checks themselves run side by side (each
    has its own copy, app, browser and ``/tmp``: nothing one writes reaches another), as many
    at a time in this process as ``checks_at_once`` says, the run's ``_rank`` first; the first
    ``suites`` run a whole suite (long work, ``Slots``: short checks never wait behind more
    than one). An app that never served, or a seal that never began, raises ``_not_ready``'s
    error."""
    slots, long_slots = _slots(checks_at_once(ctx.services.settings))
    rank = _rank(ctx)
    stopping = carried()  # a person's cancel stops every check of the run

    def slotted(check: Callable[[], Any], long: bool) -> Any:
        with stopping(), long_slots.taken(rank) if long else nullcontext(), slots.taken(rank):
            return check()

    with waiting():  # for check slots and browsers: the run's CPU slot goes to another run
        try:
            if len(checks) < 2:
                return [slotted(check, suites > 0) for check in checks]
            with ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="check") as pool:
                futures = [pool.submit(slotted, c, n < suites) for n, c in enumerate(checks)]
                return [future.result() for future in futures]
        except AppNotReady as exc:
            raise _not_ready(ctx, exc) from exc


def drivers_ready(services: Services) -> None:
    """The browser's drivers for the hold-out's checks at once, started in the background
    while the suite runs, within a cycle (``within``: outside one, no validation follows in
    this process); a broken hold-out: the step that runs it says so."""
    if not within():
        return
    with suppress(StepFailed):
        wanted = min(len(apps_for(_holdout(services, None))), checks_at_once(services.settings))
        services.caches.part(Drivers, lasting=True).start(wanted)


def _holdout(services: Services, only: frozenset[str] | None) -> list[HoldoutCheck]:
    """The hold-out's journeys and adopted learned checks (``only``: those of these names;
    none: no app is needed), for an app that can be started; a learned check only where the
    repository holds its merge (a backtest's base: those before it)."""
    settings = services.settings
    if only == frozenset():
        return []
    if not settings.config.commands.start:
        raise StepFailed("factory.yaml has no commands.start: the app cannot be validated", {})
    try:
        held = [j for j in load_holdout(settings.holdout_dir) if only is None or j.name in only]
    except ConfigErrors as exc:
        raise StepFailed(
            f"the hold-out is broken: {exc.problems[0]}", {"hold_out": "broken"}
        ) from exc
    return [j for j in held if not isinstance(j, Learned) or services.repo.find([j.merge])[0]]


def _groups(at: Checkout, groups: list[list[HoldoutCheck]]) -> list[Callable[[], Any]]:
    """Each of ``groups`` (``apps_for``) on ``at``, on a fresh app of its own."""
    return [partial(_journey_check, at, n, group) for n, group in enumerate(groups, start=1)]


def _first(
    at: Checkout, held: list[HoldoutCheck], trying: Sequence[Learned], asking: bool
) -> tuple[list[HoldoutCheck], list[Any]]:
    """What runs first, uncounted (``journeys_passed``): the learned checks the validator is
    told of when ``asking`` (which no longer hold are its to answer for), and those
    ``trying``, twice; with what they showed."""
    told: list[HoldoutCheck] = [c for c in held if isinstance(c, Learned) and asking]
    early = _groups(at, apps_for(told) + apps_for(trying) * 2)
    return told, _run_checks(at.ctx, early) if early else []


def inconclusive(ctx: StepContext, failed: StepFailed) -> FactoryError:
    """``failed`` came of the environment (an app still starting when its time was up, set-up
    failing on production's own tree), never of a change: a run about an issue is taken up
    again later, no fix attempt spent (``Inconclusive``, due at once); after
    ``INCONCLUSIVE_TRIES`` such tries in its run, and for production's own checks, it fails
    as said, its cause in the words a person reads (kind ``inconclusive``)."""
    tries = 1 + sum(s.error_kind == "inconclusive" for s in ctx.records)
    if ctx.issue is not None and tries < INCONCLUSIVE_TRIES:
        return Inconclusive(f"inconclusive, tried again later: {failed}", ctx.services.clock())
    said = f"{failed} ({tries} tries)" if ctx.issue else str(failed)
    return StepFailed(said, failed.outputs, ErrorKind.INCONCLUSIVE)


def setup_failed(
    ctx: StepContext, prepared: PreparedTree, evidence: BaseModel | None = None
) -> FactoryError:
    """Set-up failed (``evidence``: what the step keeps): before the change, on production's
    tree, the environment's; on the change (set up again offline), the change's: a person's
    when it changed what set-up reads (what it would install), else refused."""
    network = prepared.network.model_dump(mode="json") if prepared.network else None
    changed = list(prepared.inputs_changed)
    said = {"output": prepared.output, "setup_inputs_changed": changed, "network": network}
    # the change's own set-up failing offline: what it would install is a person's (no retry)
    kind = ErrorKind.GATE if changed else ErrorKind.REFUSED
    failed = StepFailed(str(prepared.problem), evidence or dict(said), kind)
    return failed if prepared.offline else inconclusive(ctx, failed)


def _not_ready(ctx: StepContext, exc: AppNotReady) -> FactoryError:
    """An app that never served, or a seal that never began: the environment's when it says
    so (an app still starting when its time was up, a seal whose own start failed), else
    the step's failure."""
    failed = StepFailed(str(exc), {"output": exc.output})
    return inconclusive(ctx, failed) if exc.environment else failed


def journeys_on(
    ctx: StepContext,
    sha: str,
    label: str,
    validator: ValidatorQuestion | None = None,
    trusted: str | None = None,
    tests: bool = False,
    earlier: EarlierVerdict | None = None,
    before: Before | None = None,
    only: frozenset[str] | None = None,
    reuse: Collection[str] | None = None,
    replay: list[Observation] | None = None,
    trying: Sequence[Learned] = (),
) -> HoldoutRun:
    """The hold-out (and the tests, and the validator ``validator`` asks, or its ``replay``) on
    the app built from ``sha``, each check on a fresh app (``_first``, ``_groups``; ``only``: by
    name); setup reaches the egress proxy only on ``trusted`` (``prepare_worktree``). ``reuse``:
    a remembered pass stands for the tests unless the tree's suite holds one of these flakes."""
    settings, repo = ctx.services.settings, ctx.services.repo
    held = _holdout(ctx.services, only)  # before anything is made: a broken hold-out says so
    kept = reused(ctx, sha, trusted or sha, reuse) if tests and reuse is not None else None
    testing = tests and kept is None  # the suite runs here
    if not (testing or held or before or validator or trying or settings.config.commands.setup):
        # nothing to set up, run or look at on it: no checkout (a pass of its suite reused)
        return HoldoutRun(
            sha=sha, tree=tree_of(repo, sha), journeys=[], journeys_passed=True, tests=kept
        )
    with _checkout(ctx, sha, label, trusted or sha) as (at, prepared):
        told, replayed = _first(at, held, trying, validator is not None)
        checks: list[Callable[[], Any]] = []
        if testing:
            checks.append(partial(_tests_on, at, label))
        if before:
            checks.append(partial(_tests_on, at, f"{label}-before", before))
        checks += _groups(at, apps_for([c for c in held if c not in told]))
        if validator is not None:
            checks.append(_sealed_check(at, validator, earlier, replay, replayed))
        done = _run_checks(ctx, checks, suites=int(testing))
        tested = _again_alone(at, done.pop(0), reuse, None) if testing else kept
        tested_before = _again_alone(at, done.pop(0), None, before) if before else None
        sealed = done.pop() if validator is not None else None
        results: list[JourneyResult] = [r for _, found in done for r in found]
        return HoldoutRun(
            sha=sha,
            tree=tree_of(repo, sha),
            journeys=results + [r for _, found in replayed for r in found],
            journeys_passed=all(r.passed for r in results),
            ports=[port for port, _ in done + replayed],
            shots_dir=str(at.shots),
            setup_offline_for=list(prepared.inputs_changed),  # set-up reads it: set up again
            setup_installs=list(prepared.installs),  # installed where production's did not
            network=prepared.network,  # set-up's connections through the egress proxy
            tests=tested,
            tests_before=tested_before,
            validator=sealed,
        )


@contextmanager
def _checkout(
    ctx: StepContext, sha: str, label: str, trusted: str
) -> Iterator[tuple[Checkout, PreparedTree]]:
    """A checkout of ``sha`` for the checks named after ``label``, prepared (``trusted``: the
    tree whose setup runs, through the egress proxy) while it is used, removed after."""
    settings = ctx.services.settings
    manager = WorktreeManager.of(ctx.services.repo, settings.state_dir)
    start = trusted if settings.config.commands.setup else sha  # no setup first: sha's tree
    path = manager.create_detached(start, f"{ctx.run_id}-{label}")
    try:
        prepared = prepare_worktree(settings, path, start, sha)
        if prepared.problem is not None:
            raise setup_failed(ctx, prepared)
        shots = settings.state_dir / "evidence" / ctx.run_id / label
        yield Checkout(ctx, path, sha, trusted, label, shots), prepared
    finally:
        manager.remove(path)


def _again_alone(
    at: Checkout, tested: Tested, flaky: Collection[str] | None, before: Before | None
) -> Tested:
    """A time limit is not a verdict: tests it stopped beside the other checks run once more,
    alone (every other check of this commit has finished); stopped again, the suite does not
    finish in its time (``harness.validate.route``: a person, never a fix attempt). A change's
    suite (``sha`` on ``trusted``) that failed holding one of the ``flaky`` checks heal found on
    production runs once more, whole: production's flake is not the change's (docs/testing.md)."""
    ctx, sha = at.ctx, at.sha
    failed = tested.exit_code != 0 and tested.limit_hit is None and sha != at.trusted
    held = failed and bool(flaky) and holds_flaky(ctx.services.repo, sha, flaky or ())
    if tested.limit_hit != "time" and not held:
        return tested
    name = f"{at.label}-again" if before is None else f"{at.label}-before-again"
    rerun = partial(_tests_on, at, name, before)
    again: Tested = _run_checks(ctx, [rerun], int(not before))[0]
    return again.evolve(again=not held, flaky_again=held)


def _rank(ctx: StepContext) -> int:
    """Whose checks go first (``_Slots``): the landing change's, then the merge queue's."""
    if ctx.lease is None:
        return 1
    if is_landing(ctx.services.store, ctx.lease.holder):
        return 0
    return 1 + place(ctx.services.store, ctx.run_id)


def sealed_request(
    services: Services,
    question: ValidatorQuestion,
    budget_usd: float,
    app_url: str,
    shots: Path,
    sockets: Path,
    replay: list[Observation] | None,
) -> SealRequest:
    """What the seal gets: the ``question``, completed from the validator's definition (tools,
    prompt, output, limits; its budget caps ``budget_usd``), the app to open, its screenshots
    folder and its two sockets in ``sockets``, named afresh."""
    definition = load_sealed(services)
    if definition.budget_usd is not None:
        budget_usd = min(budget_usd, definition.budget_usd)
    return SealRequest(
        question=question,
        definition=definition,
        instructions=services.templates.render(  # how the app runs: the validation environment
            definition.template, commands=services.settings.config.commands.model_dump(mode="json")
        ),
        budget_usd=max(0.0, budget_usd),
        app_url=app_url,
        shots_dir=str(shots),
        model_socket=socket_path(sockets, "model"),
        browser_socket=socket_path(sockets, "browser"),
        harness_uid=os.getuid(),
        replay=replay,
    )


def run_validator(
    services: Services,
    question: ValidatorQuestion,
    budget_usd: float,
    app: AppProcess,
    shots: Path,
    hooks: AgentHooks,
    replay: list[Observation] | None = None,
) -> ValidatorRun:
    """The sealed validator against ``app``, every model call checked and recorded by
    ``hooks``: its answer (see ``run_sealed``). Its screenshots go to ``shots/validator``.
    ``replay``: those recorded actions done again instead, no model asked."""
    with socket_folder() as sockets:
        request = sealed_request(
            services, question, budget_usd, app.base_url, shots / "validator", sockets, replay
        )
        return run_sealed(
            request,
            model=services.model,
            hooks=hooks,
            netns_pid=app.netns_pid,
            hidden=sealed_hidden_paths(services.settings),
        )


def _sealed(
    ctx: StepContext, app: AppProcess, shots: Path, question: ValidatorQuestion
) -> ValidatorRun:
    """The validator's answer, stamped with the question it was asked; its transcript is kept
    in a file of its own. Its budget is what the issue has left."""
    services = ctx.services
    left = services.settings.governance.rules.budgets.per_issue_usd
    left -= services.store.spend(issue=ctx.issue)
    hooks = StepHooks(ctx, question.model)  # the engine's kill switch and budget checks
    answer = run_validator(services, question, left, app, shots, hooks)
    save_transcript(ctx, answer.messages, "validator")
    return answer.evolve(asked=question.digest())
