"""Production's checks as heal names them — a test by its runner's id (``test:<id>``;
``tests`` when it named none), a hidden journey by a digest of its name, so an id may stand
in an issue — and a probe: some of them run on one commit, each on a fresh app, kept as an
event of its run so a resumed run runs none twice."""

from __future__ import annotations

import hashlib
import re

from harness.artifacts import ANY_RUN, Diagnosis, HoldoutRun, Probe
from harness.browser.journeys import load_journeys
from harness.engine.context import StepContext
from harness.errors import FactoryError, StoppedError
from harness.store.db import Store
from harness.validate.evidence import Before, journeys_on

_UNITTEST = re.compile(r"^(?:FAIL|ERROR): (\S+) \(([\w.]+)\)", re.M)  # unittest, Django
_NAMED = (
    re.compile(r"^(?:FAILED|ERROR) (\S+::\S+)", re.M),  # pytest's summary
    re.compile(r"^\s*● (\S.*?)\s*$", re.M),  # jest, vitest
)
PROBED = "heal.probe"  # the event each probe is kept as, in its run


def failing_tests(output: str) -> list[str]:
    """The ids of the tests the runner's ``output`` says failed."""
    found = _UNITTEST.findall(output)
    ids = {where if where.endswith(f".{name}") else f"{where}.{name}" for name, where in found}
    return sorted(ids.union(*(pattern.findall(output) for pattern in _NAMED)))


def journey_check(name: str) -> str:
    return "journey:" + hashlib.sha256(name.encode()).hexdigest()[:12]


def failing_checks(run: HoldoutRun) -> list[str]:
    """What failed in a health run: its tests by id, then its journeys by digest."""
    checks: list[str] = []
    if run.tests is not None and run.tests.exit_code != 0:
        checks += [f"test:{i}" for i in failing_tests(run.tests.output)] or ["tests"]
    return checks + [journey_check(j.name) for j in run.journeys if not j.passed]


def probe(ctx: StepContext, sha: str, checks: list[str], label: str) -> Probe:
    """``checks`` on commit ``sha``: the run's earlier probe of them there, else run now
    and kept (an event of the run) before anything else happens."""
    store = ctx.services.store
    for event in store.events(run_id=ctx.run_id, kind=PROBED):
        if event.data.get("sha") == sha and event.data.get("checks") == checks:
            return Probe.model_validate(event.data["probe"])
    found = _run(ctx, sha, checks, label)
    store.append_event(
        ctx.run_id, PROBED, {"sha": sha, "checks": checks, "probe": found.model_dump()}
    )
    return found


def _run(ctx: StepContext, sha: str, checks: list[str], label: str) -> Probe:
    """Only these tests (``commands.test_files``: the suite when no template fits, or when
    the runner named none) beside only these journeys."""
    tests = [c for c in checks if not c.startswith("journey:")]
    ids = [c.removeprefix("test:") for c in tests if c != "tests"]
    chosen = Before(ids, {}) if ids and "tests" not in tests else None
    try:
        every = load_journeys(ctx.services.settings.holdout_dir)
        names = frozenset(j.name for j in every if journey_check(j.name) in checks)
        run = journeys_on(
            ctx, sha, label, tests=bool(tests) and not chosen, before=chosen, only=names
        )
    except StoppedError:
        raise
    except FactoryError as exc:  # set-up, the app, the browser, the hold-out
        return Probe(sha=sha, failed=[], environment=str(exc)[:500])
    tested = run.tests_before if chosen else run.tests
    if tested is not None and (tested.limit_hit or tested.exit_code in (126, 127)):
        why = tested.limit_hit or f"exit {tested.exit_code}"
        return Probe(sha=sha, failed=[], environment=f"`{tested.command}` did not run: {why}")
    failed = {journey_check(j.name) for j in run.journeys if not j.passed}
    if tested is not None and tested.exit_code != 0:
        named = set(failing_tests(tested.output))
        failed |= {c for c in tests if c == "tests" or not named or c[5:] in named}  # test:
    return Probe(sha=sha, failed=sorted(failed & set(checks)))


def flakes(store: Store) -> dict[str, list[tuple[str, str]]]:
    """Each check heal found flaky, with every time it was: (the heal run, the commit),
    oldest first."""
    found: dict[str, list[tuple[str, str]]] = {}
    for run_id, diagnosed in reversed(store.artifacts(Diagnosis, None, ANY_RUN, limit=100_000)):
        for check in diagnosed.flaky:
            found.setdefault(check, []).append((run_id, diagnosed.sha))
    return found
