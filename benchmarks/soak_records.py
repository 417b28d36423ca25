"""What the soak reads after every day: the invariants (each a list of breaks, one line naming
what breaks it), the day's figures, and the capabilities that fired.

Most invariants read the world (``benchmarks/soak_oracle.py``: production as the world's own
eyes find it, the forge as its users and maintainer see it, the model's calls priced by the
world, what its maintainer broke, stopped, cancelled and decided); those that judge the
factory's own bookkeeping — that a merge rests on the gates it recorded, that a run left
unfinished is taken up, that a regression loop closes, that a flake is counted — read its
records: its store (runs, their typed records, events), its forge and its git, never what the
soak did. ``WORLD`` names which is which."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import yaml

import harness.store.base as store_clock
from benchmarks import soak_oracle as oracle
from benchmarks.soak_oracle import HOUR, day_of
from harness.artifacts import (
    LEARNED,
    Artifact,
    CheckResult,
    Diagnosis,
    Found,
    Healed,
    Health,
    HoldoutRun,
    IssueSpec,
    Landing,
    Production,
    Proposal,
    Review,
    Smoke,
    Validation,
)
from harness.browser.journeys import learned_checks
from harness.engine.records import RunRecords
from harness.forge.base import Label
from harness.git.repo import GitRepo
from harness.kinds import is_revert
from harness.store.db import Store

if TYPE_CHECKING:
    from benchmarks.soak_state import World

WAITING = (Label.NEEDS_HUMAN, Label.NEEDS_REVIEW, Label.FAILED)
_RAN = re.compile(r"^Ran (\d+) tests? in ", re.M)  # what the sample app's unittest prints
_CITED = re.compile(r"^- \w+, issue (\d+)\b", re.M)  # a lesson's evidence, line by line
# the stages a cycle runs whatever production's health, and those it runs only on a green one
EVERY_CYCLE = ("triage", "heal", "health", "revert")
WHEN_GREEN = ("implement", "validate")
HOSTILE = ("hostile_plain", "hostile_hidden")


@dataclass
class Day:
    """One simulated day as it was lived and found: its figures and the invariants broken."""

    day: int
    forge: str
    figures: dict[str, Any] = field(default_factory=dict)
    invariants: dict[str, list[str]] = field(default_factory=dict)  # each one's breaks
    happened: list[str] = field(default_factory=list)

    @property
    def broken(self) -> list[str]:
        return [f"{name}: {b}" for name, breaks in self.invariants.items() for b in breaks]


def stamp(text: str | None) -> float:
    """Seconds since the epoch of a time the store (or a forge) wrote."""
    if not text:
        return 0.0
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def cycles_of(world: World, day: int) -> list[float]:
    """The moments the cycles of the month's ``day`` began (the factory's clock)."""
    first = datetime.fromtimestamp(world.start, UTC).replace(hour=0, minute=0, second=0)
    midnight = first.timestamp() + day * 24 * HOUR
    return [midnight + h * HOUR for h in world.data["clock"]["cycles"]]


# ---- the records ------------------------------------------------------------------------


@dataclass
class Records:
    """The factory's records as they are now."""

    store: Store
    runs: list[Any]
    records: dict[str, RunRecords]
    issues: list[Any]
    comments: dict[int, list[Any]]
    now: float

    def typed(self, kind: type[Any], *, succeeded: bool = True) -> list[tuple[Any, Any]]:
        """Every ``kind`` record (of succeeded runs only, unless ``succeeded`` is off), each
        with its run, oldest run first."""
        found = []
        for run in reversed(self.runs):
            if run.status == "succeeded" or not succeeded:
                found += [(run, r) for _, r in self.records[run.id].every(kind)]
        return found

    def touched(self, run: Any) -> float:
        """The newest moment a run's records were written."""
        steps = self.store.steps(run.id)
        times = [stamp(run.started_at)] + [stamp(s.finished_at or s.started_at) for s in steps]
        events = self.store.events(run_id=run.id)
        return max(times + [stamp(e.ts) for e in events[-1:]])


def read_records(world: World) -> Records:
    store = Store.open(world.state)
    runs = store.list_runs(limit=None)
    issues = world.side.issues("all")
    return Records(
        store=store,
        runs=runs,
        records={r.id: RunRecords(store.steps(r.id)) for r in runs},
        issues=issues,
        comments={i.number: world.side.comments(i.number) for i in issues},
        now=store_clock.factory_now(),
    )


# ---- the invariants ---------------------------------------------------------------------

INVARIANTS = (
    "tested as landed",
    "landed trees pass the world's replay",
    "merges rest on their gates",
    "production red, bounded",
    "production shows what was promised",
    "with a person, bounded",
    "a person's word holds",
    "unfinished runs move",
    "the factory works",
    "nothing twice",
    "regression loops close",
    "heal blames what broke",
    "within budgets",
    "one proposal per cause",
    "a flake is counted, never reverts",
    "strangers are not obeyed",
    "the hold-out stays hidden",
)
# those that read what the world saw, not the factory's records of itself
WORLD = (
    "landed trees pass the world's replay",
    "production red, bounded",
    "production shows what was promised",
    "with a person, bounded",
    "a person's word holds",
    "the factory works",
    "heal blames what broke",
    "within budgets",
    "strangers are not obeyed",
    "the hold-out stays hidden",
    "one proposal per cause",
)
# invariants whose break, once read, stands whatever the rest of the day does (each judges
# what is over: finished runs' records, commits on production, calls made, texts written):
# read after any factory command, not only at the end of a day, and a soak may stop at one
# (``--stop``); a day that holds one at its end held it all day
SETTLED = (
    "merges rest on their gates",
    "landed trees pass the world's replay",
    "a person's word holds",
    "heal blames what broke",
    "within budgets",
    "strangers are not obeyed",
    "the hold-out stays hidden",
)


def invariants(
    world: World, records: Records, day: int, only: str | None = None
) -> dict[str, list[str]]:
    """Per invariant (``only``: that one alone), each break."""
    checks: dict[str, Callable[[], list[str]]] = {
        "tested as landed": lambda: tested_as_landed(world, records),
        "landed trees pass the world's replay": lambda: oracle.landed_trees_pass(world),
        "merges rest on their gates": lambda: merges_rest_on_gates(world, records),
        "production red, bounded": lambda: oracle.production_red_bounded(world),
        "production shows what was promised": lambda: oracle.production_shows_what_was_promised(
            world
        ),
        "with a person, bounded": lambda: oracle.with_a_person_bounded(world),
        "a person's word holds": lambda: oracle.a_persons_word_holds(world),
        "unfinished runs move": lambda: unfinished_runs_move(world, records),
        "the factory works": lambda: oracle.the_factory_works(world, day),
        "nothing twice": lambda: nothing_twice(world, records),
        "regression loops close": lambda: regression_loops_close(world, records, day),
        "heal blames what broke": lambda: oracle.heal_blames_what_broke(
            world, [(h.culprit, h.sha, run.id) for run, h in records.typed(Healed) if h.culprit]
        ),
        "within budgets": lambda: oracle.within_budgets(world),
        "one proposal per cause": lambda: one_proposal_per_cause(world),
        "a flake is counted, never reverts": lambda: a_flake_is_counted(records),
        "strangers are not obeyed": lambda: oracle.strangers_are_not_obeyed(world),
        "the hold-out stays hidden": lambda: oracle.the_holdout_stays_hidden(world, world.calls),
    }
    assert tuple(checks) == INVARIANTS
    return {name: check() for name, check in checks.items() if only in (None, name)}


def _journeys_held(world: World, moment: float) -> int:
    """How many journeys the hold-out held at ``moment`` (the world added them)."""
    return sum(added <= moment for added in world.journeys.values())


def _proven(world: World, records: Records, landing: Landing, run: Any) -> str | None:
    """Why ``landing`` is not proven by a passing check of its landed tree — the test
    command run, at least one test ran, every journey the hold-out held ran and passed —
    or None. The check is the newest of its landed tree its own run made (its tests perhaps
    reused from an earlier run: ``tested_by``), else the newest of the run that ran its
    tests: never an older run's check when its own has one, for an older check holds the
    journeys of the hold-out of its day, not of this landing's."""
    own, reused = (
        [c for _, c in records.records[r].every(CheckResult) if c.tree == landing.landed_tree]
        if r in records.records
        else []
        for r in (run.id, landing.tested_by or "")
    )
    if not own + reused:
        return f"no check of its landed tree {landing.landed_tree[:12]}"
    check = (own or reused)[-1]
    tests, held = check.tests, _journeys_held(world, stamp(run.started_at))
    ran = _RAN.findall(tests.output) if tests else []
    if tests is None or tests.exit_code != 0:
        return "its tests did not pass on the landed tree"
    if not ran or int(ran[-1]) < 1:
        return f"no test ran (`{tests.command}` said: {tests.output.strip()[-80:]!r})"
    if len(check.journeys) < held or not all(j.passed for j in check.journeys):
        passed = sum(j.passed for j in check.journeys)
        return f"{passed} of the hold-out's {held} journeys passed on it"
    return None


def tested_as_landed(world: World, records: Records) -> list[str]:
    """Every commit on production since the stretch began that its maintainer did not make
    is a merge the factory recorded (a ``Landing``, on any forge: GitHub authors its merges
    itself) whose landed tree is its tested tree, proven by a passing check of that tree in
    which the tests ran (at least one) and every hold-out journey ran and passed — or a
    return to a tree production held before (a merge its smoke check undid)."""
    repo = GitRepo(world.side.git_dir)
    head = world.side.production()
    landed = {landing.merge_sha: (run, landing) for run, landing in records.typed(Landing)}
    history = repo.first_parents(head, 10_000)
    history = history[: history.index(world.base)] if world.base in history else history
    trees = [str(repo.tree_of(sha)) for sha in history]
    broken = []
    for at, sha in enumerate(history):
        author = repo.git("log", "-1", "--format=%an", sha).strip()
        if author == "Mae Maintainer":
            continue  # a person's commit: production's health judges it
        if sha not in landed:
            if trees[at] not in [*trees[at + 1 :], str(repo.tree_of(world.base))]:
                broken.append(f"production commit {sha[:12]} ({author}) has no Landing")
            continue
        run, landing = landed[sha]
        if trees[at] != landing.tested_tree:
            broken.append(f"{sha[:12]} holds tree {trees[at][:12]}, not the tested one")
        elif why := _proven(world, records, landing, run):
            broken.append(f"{sha[:12]} (#{landing.issue}): {why}")
    return broken


def merges_rest_on_gates(world: World, records: Records) -> list[str]:
    """Every merge rests on its validation's record of a pass of every gate the world lists
    (``gates``: implement's and validation's, and the validator's for any change but a
    revert), the verdict a pass at the rules' minimum score, the route a merge."""
    from harness.config.settings import load_settings

    rules = load_settings(world.repo, world.state).governance.rules
    gates = world.data["gates"]
    broken = []
    for run, landing in records.typed(Landing):
        validation = records.records[run.id].newest(Validation)
        if validation is None:
            broken.append(f"#{landing.issue} merged as {landing.merge_sha[:12]} with no Validation")
            continue
        revert = validation.reason.startswith("a revert") or any(
            is_revert(s.kind) for _, s in records.typed(IssueSpec) if s.number == landing.issue
        )
        wanted = [*gates["validate"], *([] if revert else [*gates["implement"], *gates["judged"]])]
        named = {g.name: g for g in validation.gates}
        missing = [g for g in wanted if g not in named]
        failed = [g.name for g in validation.gates if not g.passed]
        verdict = validation.validator
        why = [f"gates never recorded: {', '.join(missing)}"] if missing else []
        why += [f"gates that failed: {', '.join(failed)}"] if failed else []
        if not revert and (
            verdict is None
            or verdict.verdict != "pass"
            or verdict.score < rules.auto_merge.min_score
        ):
            shown = f"{verdict.verdict} {verdict.score:.2f}" if verdict else "none"
            why.append(f"the validator's verdict is {shown}")
        if validation.route != "merge":
            why.append(f"its route is {validation.route}")
        if why:
            broken.append(f"#{landing.issue} merged as {landing.merge_sha[:12]}: {'; '.join(why)}")
    return broken


def red_spells(records: Records) -> list[tuple[float, float | None]]:
    """Each spell production was red, by its health checks: from the first red check to the
    next green one, or to heal finding each failed check passing again (None: red still)."""
    spells: list[tuple[float, float | None]] = []
    since = None
    for run in reversed(records.runs):
        found, began = records.records[run.id], stamp(run.started_at)
        health, diagnosis = found.newest(Health), found.newest(Diagnosis)
        green = run.workflow == "health" and health is not None and health.green
        # heal ran every failed check again and each passed: a flake, production green
        again = diagnosis.again if diagnosis is not None else None
        flake = diagnosis is not None and diagnosis.verdict == "flaky"
        flake = flake and not (again and again.failed)
        if run.status == "succeeded" and (green or flake):
            if since is not None:
                spells.append((since, began))
            since = None
        elif run.workflow == "health" and run.status == "failed" and since is None:
            since = began if found.newest(HoldoutRun) is not None else None
    return spells + ([(since, None)] if since is not None else [])


def red_since(records: Records) -> float | None:
    """Since when production has been red, None when its latest check was green."""
    spells = red_spells(records)
    return spells[-1][0] if spells and spells[-1][1] is None else None


def acted(records: Records) -> dict[int, float]:
    """When the factory last acted on each issue, by its store's clock: the newest run about
    it, or the run that filed it (heal's issues, the audit's)."""
    when: dict[int, float] = {}

    def seen(number: int | None, run: Any) -> None:
        if number is not None:
            moment = stamp(run.finished_at or run.started_at)
            when[number] = max(when.get(number, 0.0), moment)

    for run in records.runs:
        seen(run.issue, run)
    for run, healed in records.typed(Healed):
        seen(healed.person_issue, run)
        seen(healed.regression_issue, run)
    for run, found in records.typed(Found):
        for number in found.issues:
            seen(number, run)
    return when


def waiting(world: World, records: Records) -> list[tuple[Any, float, bool]]:
    """Each open issue waiting for a person: (issue, hours waited, whether the factory told
    why — a comment of its own on it, or its own issue's body). It waits since the factory
    last acted on it."""
    found = []
    last = acted(records)
    for issue in records.issues:
        if issue.state != "open" or not set(WAITING) & set(issue.labels):
            continue
        since = last.get(issue.number, records.now)
        own = world.side.is_own
        told = own(issue.author) or any(own(c.author) for c in records.comments[issue.number])
        found.append((issue, (records.now - since) / HOUR, told))
    return found


def _red_at(spells: list[tuple[float, float | None]], moment: float) -> bool:
    return any(began <= moment and (until is None or moment < until) for began, until in spells)


def unfinished_runs_move(world: World, records: Records) -> list[str]:
    """A run left unfinished (killed, stopped) is resumed, or ended with a reason, by the
    next cycle that runs its stage (``bounds.unfinished_cycles``: one; a killed cycle's
    restart is a cycle more): triage, heal, health and a revert every cycle; implement and
    validate in a cycle that began with production green (a red production waits for its
    revert or a person); the audit by the next night. A deferred run waits for its hour. And
    no open issue is in progress without an unfinished run, unless it is the culprit of a
    regression loop."""
    today = day_of(world, records.now)
    cycles = [c for d in range(world.first_day, today + 1) for c in cycles_of(world, d)]
    nights = [
        c + (world.data["clock"]["night"] - world.data["clock"]["cycles"][-1]) * HOUR
        for c in cycles[1::2]
    ]
    spells = red_spells(records)
    allowed = world.data["bounds"]["unfinished_cycles"]
    broken = []
    for run in records.runs:
        if run.finished_at is not None or (run.not_before and run.not_before > records.now):
            continue
        last = records.touched(run)
        if run.workflow in EVERY_CYCLE:
            missed = [m for m in cycles if m > last]
        elif run.workflow in WHEN_GREEN:
            missed = [m for m in cycles if m > last and not _red_at(spells, m + 60)]
        elif run.workflow == "audit":
            missed = [m for m in nights if m > last]
        else:
            continue
        if len(missed) >= allowed:
            broken.append(
                f"{run.workflow} run {run.id} (#{run.issue}) untouched since day "
                f"{day_of(world, last)}, through {len(missed)} cycle(s) that could take it"
            )
    unfinished = {r.issue for r in records.runs if r.finished_at is None and r.issue is not None}
    loops = {h.culprit_issue for _, h in records.typed(Healed) if h.regression_issue}
    broken += [
        f"#{i.number} in progress without a run ({', '.join(sorted(i.labels))})"
        for i in records.issues
        if i.state == "open"
        and Label.IN_PROGRESS in i.labels
        and i.number not in unfinished | loops
    ]
    return broken


def _refused_by_budget(records: Records, run: Any) -> bool:
    return any(
        (s.outputs or {}).get("fatal") == "BudgetExceeded" for s in records.store.steps(run.id)
    )


def nothing_twice(world: World, records: Records) -> list[str]:
    """No issue filed twice by the factory (one title each), no comment of its own posted
    twice (one per marker, its first line), no pull request merged twice, no change landed
    twice, no issue with two pull requests open or merged (work done again, not resumed)."""
    own = world.side.is_own
    broken = []
    titles = Counter(i.title for i in records.issues if own(i.author))
    broken += [f"filed twice: {n} issues titled {t!r}" for t, n in titles.items() if n > 1]
    for number, comments in records.comments.items():
        said = Counter(c.body.partition("\n")[0] for c in comments if own(c.author))
        broken += [
            f"commented twice on #{number}: {b[:60]!r} ×{n}" for b, n in said.items() if n > 1
        ]
    landings = [landing for _, landing in records.typed(Landing)]
    landed = Counter(landing.pr for landing in landings)
    broken += [f"merged twice: pull request {pr} ×{n}" for pr, n in landed.items() if n > 1]
    heads = Counter((landing.issue, landing.head) for landing in landings)
    broken += [f"landed twice: #{i} at {h[:12]} ×{n}" for (i, h), n in heads.items() if n > 1]
    prs = world.side.prs()
    merges = Counter(p.branch for p in prs if p.state == "merged")
    broken += [f"merged twice: branch {b} ×{n}" for b, n in merges.items() if n > 1]
    kept: dict[int, list[int]] = {}  # an issue's pull requests not closed: one at most
    for pr in prs:  # a regression issue's revert (heal titles it so) comes before its fix
        if pr.issue and pr.state != "closed" and not pr.title.startswith("Revert "):
            kept.setdefault(pr.issue, []).append(pr.number)
    broken += [f"#{i} has pull requests {n} open or merged" for i, n in kept.items() if len(n) > 1]
    return broken


def regression_loops_close(world: World, records: Records, day: int) -> list[str]:
    """Each revert heal made is closed — culprit reverted, its regression issue's fix merged,
    both issues closed — or either is with a person, by the end of the first day after the
    heal's on which the factory could work (a day on which heal handed red production to a
    person stops the factory and does not count: docs/heal.md, "Act"), and at the latest once
    a health found production green after the fix merged (a green health closes them): a
    hand-off later that day, or the next, does not excuse a loop a green health left open."""
    by_number = {i.number: i for i in records.issues}
    healed_all = records.typed(Healed)
    stopped = {
        day_of(world, stamp(run.started_at))
        for run, healed in healed_all
        if healed.outcome in ("needs_human", "environment") and healed.regression_issue is None
    }
    greens = [  # a production run only ran others: read by its workflow's name
        stamp(run.started_at)
        for run in records.store.list_runs(None, workflow="production", status="succeeded")
        for _, production in RunRecords(records.store.steps(run.id)).every(Production)
        if production.green and production.heal is None
    ]
    landed = {landing.issue: records.touched(run) for run, landing in records.typed(Landing)}
    broken = []
    for run, healed in healed_all:
        since = day_of(world, stamp(run.started_at))
        working = [d for d in range(since + 1, day + 1) if d not in stopped]
        fix = by_number.get(healed.regression_issue or 0)
        culprit = by_number.get(healed.culprit_issue or 0)
        # merged: its newest landing is the fix, not the revert; and a green health since
        fixed_at = landed.get(fix.number) if fix and Label.MERGED in fix.labels else None
        green_since = fixed_at is not None and any(g > fixed_at for g in greens)
        if healed.outcome != "reverted" or not (working or green_since):
            continue
        if fix is None or culprit is None:
            broken.append(f"heal {run.id} names an issue that does not exist")
            continue
        person = any(
            Label.NEEDS_HUMAN in i.labels or (i.state == "closed" and Label.REJECTED in i.labels)
            for i in (fix, culprit)
        )
        closed = fix.state == "closed" and culprit.state == "closed"
        merged = Label.MERGED in fix.labels and Label.MERGED in culprit.labels
        if not (person or (closed and merged)):
            broken.append(
                f"#{culprit.number} ({culprit.state}, {', '.join(sorted(culprit.labels))}) and "
                f"its regression issue #{fix.number} ({fix.state}, "
                f"{', '.join(sorted(fix.labels))}) open since heal {run.id}"
            )
    return broken


def one_proposal_per_cause(world: World) -> list[str]:
    """No two lessons open on the forge (a pull request of the factory's that no issue owns)
    cite one issue the world filed, as the maintainer reads them (``issue N`` in their
    evidence): one cause, one proposal."""
    cited: dict[int, list[int]] = {}
    for pr in world.side.prs():
        if pr.state == "open" and not pr.issue:
            for number in {int(n) for n in _CITED.findall(pr.body)} & set(world.issued):
                cited.setdefault(number, []).append(pr.number)
    return [
        f"#{issue} is cited by the open lessons {sorted(prs)}"
        for issue, prs in sorted(cited.items())
        if len(prs) > 1
    ]


def a_flake_is_counted(records: Records) -> list[str]:
    """A check that failed production's health and passed again on the same tree (a test,
    with the whole suite passing) is in ``factory flaky``; once there, its failure alone
    never reverts a change (heal's bisect leaves checks it found flaky out: docs/heal.md)."""
    from harness.validate.suite import flakes

    listed, flaky, broken = set(flakes(records.store)), set[str](), []
    for run, healed in records.typed(Healed):
        diagnosis = records.records[run.id].newest(Diagnosis)
        failing = set(diagnosis.checks) if diagnosis else set()
        again = diagnosis.again if diagnosis else None
        if again is not None and not again.environment:
            # a test passed again only where the whole suite did (docs/heal.md); a journey
            # on an app of its own
            suite = not any(not c.startswith("journey:") for c in again.failed)
            passed = failing - set(again.failed)
            missing = sorted(c for c in passed - listed if suite or c.startswith("journey:"))
            broken += [f"{c} passed again on {healed.sha[:12]}, not counted flaky" for c in missing]
        if healed.outcome == "reverted" and failing and failing <= flaky:
            culprit = str(healed.culprit)[:12]
            broken.append(f"heal {run.id} reverted {culprit} for flaky {sorted(failing)}")
        flaky |= set(healed.flaky)
    return broken


# ---- the figures and the capabilities ---------------------------------------------------


def kills_resumed(records: Records, since: float = 0.0, until: float = float("inf")) -> int:
    """Runs taken up again after a kill, between ``since`` and ``until``: resumed while their
    record said running (no stop, deferral or end was recorded before)."""
    previous: dict[str | None, str] = {}
    count = 0
    for event in records.store.events(kind="run."):
        was = previous.get(event.run_id)
        if event.kind == "run.resumed" and was in ("run.started", "run.resumed"):
            count += since <= stamp(event.ts) < until
        previous[event.run_id] = event.kind
    return count


def figures(world: World, records: Records, day: int) -> dict[str, Any]:
    """The day's figures, from the records: changes merged, items waiting for a person (and
    the oldest's hours), hours production was red, runs resumed after a kill, flakes found,
    duplicates refused, the model's spend."""
    start = cycles_of(world, day)[0] - 2 * HOUR
    today = [r for r in records.runs if start <= stamp(r.started_at) < start + 24 * HOUR]
    ids = {r.id for r in today}
    landed = [x for run, x in records.typed(Landing) if run.id in ids]
    healed = [x for run, x in records.typed(Healed) if run.id in ids]
    specs = [x for run, x in records.typed(IssueSpec) if run.id in ids]
    end = min(records.now, start + 24 * HOUR)
    red = sum(
        max(0.0, min(until or records.now, end) - max(began, start))
        for began, until in red_spells(records)
    )
    waits = waiting(world, records)
    return {
        "merged": len(landed),
        "waiting": len(waits),
        "oldest_h": round(max([h for _, h, _ in waits] or [0.0]), 1),
        "red_h": round(red / HOUR, 1),
        "kills_resumed": kills_resumed(records, start, start + 24 * HOUR),
        "flakes": sum(len(h.flaky) for h in healed if h.outcome == "flaky"),
        "duplicates": sum(
            s.decision == "reject" and "duplicat" in f"{s.rule} {s.reason}".casefold()
            for s in specs
        ),
        "reverted": sum(h.outcome == "reverted" for h in healed),
        "found": sum(len(f.issues) for run, f in records.typed(Found) if run.id in ids),
        "cost_usd": round(sum(records.store.spend(run_id=r.id) for r in today), 4),
    }


def fired(world: World, records: Records, days: list[Day]) -> dict[str, bool]:
    """Each capability the soak promises, and whether the records show it fired."""
    every = [a for run in records.runs for _, a in records.records[run.id].every(Artifact)]
    validations = [a for a in every if isinstance(a, Validation)]
    triaged_twice = Counter(
        r.issue for r in records.runs if r.workflow == "triage" and r.status == "succeeded"
    )
    return {
        "a change merged": any(isinstance(a, Landing) for a in every),
        "a kill resumed": kills_resumed(records) > 0,
        "the audit filed a finding": any(isinstance(a, Found) and a.issues for a in every),
        "a duplicate refused": any(d.figures["duplicates"] for d in days),
        "heal reverted a factory merge": any(
            isinstance(a, Healed) and a.outcome == "reverted" for a in every
        ),
        "a red check diagnosed": any(isinstance(a, Diagnosis) for a in every),
        "an edited issue triaged again": any(
            n > 1 for i, n in triaged_twice.items() if i in world.issued
        ),
        "the validator failed a change": any(
            v.validator and v.validator.verdict == "fail" for v in validations
        ),
        "a reviewer disagreed": any(
            isinstance(a, Review) and a.verdict == "request_changes" for a in every
        ),
        "a gate refused a change": any(
            v.route != "merge" and any(not g.passed for g in v.gates) for v in validations
        ),
        "the hold-out caught a change the validator passed": any(
            v.route == "holdout_conflict" for v in validations
        ),
        "a lesson proposed": any(isinstance(a, Proposal) for a in every),
        "a budget refused a call": any(_refused_by_budget(records, r) for r in records.runs),
        "a person's decision recorded": bool(records.store.events(kind="human.")),
        "a flake found": any(isinstance(a, Healed) and a.outcome == "flaky" for a in every),
        "the factory stopped and resumed": world.watch.stops > 0,
        "a cancelled issue stayed cancelled": bool(world.watch.cancelled),
        "a smoke check reverted a merge": any(isinstance(a, Smoke) and a.reverted for a in every),
        "a pass with a failed criterion refused": any(
            v.validator is not None
            and v.validator.verdict == "pass"
            and v.validator.results("fail")
            and v.route != "merge"
            for v in validations
        ),
        "a learned check adopted": any(
            c.state != "dropped" for c in learned_checks(world.holdout)
        ),  # retired ones were adopted first
        "a learned check refused a change": any(
            v.route != "merge" and any(g.name == "learned_checks" and not g.passed for g in v.gates)
            for v in validations
        ),
        "a learned check caught a break on production": any(
            _healed_for_learned(records, run) for run in records.runs
        ),
        "a day met its cap after work": any(
            any(d == day for d, *_ in world.watch.recordings.values())
            and any(
                _refused_by_budget(records, r) and day_of(world, stamp(r.started_at)) == day
                for r in records.runs
            )
            for day in world.watch.capped
        ),
    }


def _healed_for_learned(records: Records, run: Any) -> bool:
    """Whether heal's ``run`` found a learned check failing on production again (not a
    flake) and acted: reverted its culprit or told a person."""
    found = records.records[run.id]
    diagnosis, healed = found.newest(Diagnosis), found.newest(Healed)
    return (
        diagnosis is not None
        and diagnosis.verdict == "regression"
        and any(c.startswith(LEARNED) for c in diagnosis.checks)
        and healed is not None
        and healed.outcome in ("reverted", "needs_human")
    )


def read_day(world: World, day: int, lived: Day) -> None:
    """The day's invariants and figures, read after the night (the day's caps as the world
    set them in production's factory_rules.md)."""
    _, front, _ = world.side.production_file("factory_rules.md").split("---\n", 2)
    world.caps[day] = dict(yaml.safe_load(front)["budgets"])
    oracle.day_ended(world, day)
    records = read_records(world)
    lived.invariants = invariants(world, records, day)
    lived.figures = figures(world, records, day)


# ---- the result -------------------------------------------------------------------------


def day_line(day: Day) -> str:
    f = day.figures
    head = (
        f"day {day.day} ({day.forge}): merged {f['merged']}, waiting {f['waiting']} "
        f"(oldest {f['oldest_h']} h), red {f['red_h']} h, kills resumed {f['kills_resumed']}, "
        f"flakes {f['flakes']}, duplicates refused {f['duplicates']}, ${f['cost_usd']:.4f}"
    )
    said = "".join(f"\n  - {h}" for h in day.happened)
    broken = "".join(f"\n  BROKEN {b}" for b in day.broken) or "\n  every invariant holds"
    return head + said + broken


@dataclass
class Result:
    days: int
    seed: int
    lived: list[tuple[Any, list[Day]]]
    missing: dict[str, list[str]]  # per stretch, what the days could fire and never did

    @property
    def held(self) -> bool:
        return not any(d.broken for _, days in self.lived for d in days) and not any(
            self.missing.values()
        )

    def first_break(self) -> tuple[list[str], int] | None:
        """The invariants broken on the first day one was, and the day."""
        for _, days in self.lived:
            for d in days:
                names = [name for name, breaks in d.invariants.items() if breaks]
                if names:
                    return names, d.day
        return None

    def rows(self) -> list[str]:
        rows = [
            "| day | forge | merged | waiting (oldest) | red | kills resumed | flakes | "
            "duplicates refused | spend | invariants |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for _, days in self.lived:
            for d in days:
                f = d.figures
                held = "all hold" if not d.broken else "; ".join(d.broken)
                rows.append(
                    f"| {d.day} | {d.forge} | {f['merged']} | {f['waiting']} ({f['oldest_h']:g} h) "
                    f"| {f['red_h']:g} h | {f['kills_resumed']} | {f['flakes']} | "
                    f"{f['duplicates']} | ${f['cost_usd']:.4f} | {held} |"
                )
        return rows

    def text(self) -> str:
        said = [*self.rows(), ""]
        for forge, missing in self.missing.items():
            said.append(
                f"{forge}: never fired: {', '.join(missing)}"
                if missing
                else f"{forge}: every capability the days could fire fired"
            )
        broken = self.first_break()
        said.append(
            f"--days {self.days} --seed {self.seed}: "
            + (
                f"BROKEN {broken[0]} on day {broken[1]}"
                if broken
                else "every invariant held on every day"
            )
        )
        return "\n".join(said)

    def to_json(self) -> dict[str, Any]:
        broken = self.first_break()
        return {
            "days": self.days,
            "seed": self.seed,
            "held": self.held,
            "first_break": {"invariants": broken[0], "day": broken[1]} if broken else None,
            "missing": self.missing,
            "per_day": [
                {"day": d.day, "forge": d.forge, **d.figures, "broken": d.broken}
                for _, days in self.lived
                for d in days
            ],
        }


def verdict(lived: list[tuple[Any, list[Day]]], days: int, seed: int) -> Result:
    """The soak's result: per stretch, the capabilities its days could fire that never did."""
    missing: dict[str, list[str]] = {}
    for world, stretch in lived:
        ran = len(stretch)
        could = {name for name, first in world.data["capabilities"].items() if first <= ran}
        records = read_records(world)
        missing[world.forge_kind] = sorted(
            name
            for name, happened in fired(world, records, stretch).items()
            if name in could and not happened
        )
    return Result(days, seed, lived, missing)
