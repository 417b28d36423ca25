"""Production's checks as heal names them — a test by its runner's id (``test:<id>``;
``tests`` when it named none), a hidden journey by its file (``journey:<file>``, shown
outside by a digest alone: ``public``), a learned check by its id (``learned:<id>``) — and a
probe: some of them run on one commit, each
journey on a fresh app, the tests as the whole suite or, where they fail alone, alone by
their ids (``commands.test_files``), kept as an event of its run so a resumed run runs none
twice."""

from __future__ import annotations

from pathlib import Path

from harness.artifacts import ON_AN_APP, HoldoutRun, Probe
from harness.browser.journeys import learned_checks, load_journey
from harness.config.testfiles import failing_tests
from harness.digest import sha256
from harness.engine.context import StepContext
from harness.errors import FactoryError, StoppedError
from harness.validate.evidence import Before, journeys_on

PROBED = "heal.probe"  # the event each probe is kept as, in its run


def public(check: str) -> str:
    """``check`` as an issue may show it: a hidden journey by a digest of its file alone."""
    name = check.removeprefix("journey:")
    return check if name == check else "journey:" + sha256(name)[:12]


def journey_checks(holdout: Path) -> dict[str, str]:
    """Each hold-out journey's name -> its check (``journey:<file>``), and each adopted learned
    check's (``learned:<id>``, its own)."""
    files = sorted((holdout / "journeys").glob("*.y*ml"))
    named = {load_journey(path).name: f"journey:{path.name}" for path in files}
    return named | {c.name: c.name for c in learned_checks(holdout, "adopted")}


def failing_checks(run: HoldoutRun, holdout: Path) -> list[str]:
    """What failed in a run: its tests by id, then its journeys by file."""
    named = journey_checks(holdout) if not run.journeys_passed else {}
    journeys = [named.get(j.name, f"journey:{j.name}") for j in run.journeys if not j.passed]
    if run.tests is None or run.tests.exit_code == 0:
        return journeys
    return ([f"test:{i}" for i in failing_tests(run.tests.output)] or ["tests"]) + journeys


def probe(ctx: StepContext, sha: str, checks: list[str], label: str, alone: bool = False) -> Probe:
    """``checks`` on commit ``sha`` (``alone``: the tests by their ids, not the whole suite):
    the run's earlier probe of them there, else run now and kept (an event of the run) before
    anything else happens."""
    store = ctx.services.store
    for event in store.events(run_id=ctx.run_id, kind=PROBED):
        kept = Probe.model_validate(event.data["probe"])
        if (kept.sha, kept.alone, event.data.get("checks")) == (sha, alone, checks):
            return kept
    found = _run(ctx, sha, checks, label, alone)
    store.append_event(
        ctx.run_id, PROBED, {"sha": sha, "checks": checks, "probe": found.model_dump()}
    )
    return found


def _run(ctx: StepContext, sha: str, checks: list[str], label: str, alone: bool) -> Probe:
    """The whole suite (``commands.test``) when a test is among ``checks`` — or, ``alone``,
    those tests by their ids — beside only these journeys; what failed: every test the suite
    names (``tests`` when it named none: each test among ``checks`` then failed too), each
    test run alone that its runner names failing (one it cannot find, on a commit before it
    was written, does not fail), and these journeys. Only what the harness itself meets —
    set-up, the app, the browser, the hold-out — is the environment; a test command's exit
    code or time limit is a failure like any other."""
    holdout = ctx.services.settings.holdout_dir
    tests = [c for c in checks if not c.startswith(ON_AN_APP)]
    chosen = Before([t.removeprefix("test:") for t in tests], {}) if alone else None
    try:
        names = frozenset(n for n, c in journey_checks(holdout).items() if c in checks)
        run = journeys_on(
            ctx, sha, label, tests=bool(tests) and not alone, before=chosen, only=names
        )
    except StoppedError:
        raise
    except FactoryError as exc:  # set-up, the app, the browser, the hold-out
        return Probe(sha=sha, failed=[], environment=str(exc)[:500])
    failed = set(failing_checks(run, holdout))
    if run.tests_before is not None:
        failed |= {f"test:{i}" for i in failing_tests(run.tests_before.output)} & set(tests)
    if "tests" in failed:  # the runner named none: each test asked about failed
        failed |= set(tests)
    if "tests" in checks and run.tests and run.tests.exit_code:  # the suite fails at all
        failed.add("tests")
    return Probe(sha=sha, failed=sorted(failed), alone=alone)
