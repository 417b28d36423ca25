"""``python -m benchmarks soak --days N``: one factory, left alone for N simulated days.

A sample app (the demo's notes app, ``benchmarks/soak_world.yaml``) with the scripted model and
a scripted world: users file good, vague, duplicate and hostile issues; some implementations
are wrong the ways a real model's are (a weakened test, a file it never wrote, a regression no
test covers); the maintainer commits, sometimes breaking a test or a journey, adds a journey,
turns a test flaky, and answers the issues left to a person the next morning; a ``factory run``
is killed (SIGKILL, at a named point: ``harness/faults.py``) now and then. Each day: the
maintainer, the users, two cycles (``factory run --once``), production's health and the audit
at night, ``factory lessons propose`` once a week.

After every day the invariants are checked from the factory's own records — its store, its
forge, its git — never from what the soak did (``invariants``), and the day's figures are read
from the same records (``figures``). The days are the factory's own: its clock
(``harness.store.base.DAYS_AHEAD_S``) puts each simulated day on a calendar day of its own, so
budgets per day, an author's daily limit and deferred work turn over as they would."""

from __future__ import annotations

import contextlib
import io
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

import harness.store.base as store_clock
from harness.artifacts import Artifact, CheckResult, Diagnosis, Found, Healed, Landing, Proposal
from harness.demo import generate
from harness.engine.records import RunRecords
from harness.forge.base import Label
from harness.forge.local import LocalForge
from harness.git.repo import GitRepo
from harness.store.db import Store
from harness.validate.calibration import health_key
from harness.validate.suite import RAN

WORLD = Path(__file__).with_name("soak_world.yaml")
SEED = 20261127
DAY_S = 86_400.0
FIRST_HOUR_S = 9 * 3600.0  # each simulated day starts at 09:00 UTC
MAINTAINER = {"GIT_AUTHOR_NAME": "Mae Maintainer", "GIT_AUTHOR_EMAIL": "mae@example.invalid"}
# the factory's own login on the local forge (its issues and comments), and in git
FACTORY_LOGIN = "factory[bot]"
FACTORY_AUTHOR = "factory"
FINAL = (Label.MERGED, Label.REJECTED, Label.NEEDS_HUMAN, Label.FAILED, Label.NEEDS_INFO)


@dataclass
class Day:
    """One simulated day as it was lived and found: its figures and the invariants broken."""

    day: int
    figures: dict[str, float] = field(default_factory=dict)
    invariants: dict[str, list[str]] = field(default_factory=dict)  # each one's breaks
    happened: list[str] = field(default_factory=list)

    @property
    def broken(self) -> list[str]:
        return [b for breaks in self.invariants.values() for b in breaks]


@dataclass
class World:
    """The soak's factory: its repository, hold-out, state, scripted answers; what the
    maintainer and the users do next. What it keeps here is what a person would remember
    (the commit they broke), never what the invariants read."""

    root: Path
    repo: Path
    holdout: Path
    state: Path
    script: Path
    data: dict[str, Any]
    rng: random.Random
    rules: list[dict[str, Any]] = field(default_factory=list)
    pages: list[tuple[str, str]] = field(default_factory=list)  # (topic, author) filed
    filed: dict[int, str] = field(default_factory=dict)  # what each user's issue was meant as
    to_undo: list[str] = field(default_factory=list)  # the maintainer's breakages
    start: float = 0.0
    base: str = ""  # production when the soak began

    @cached_property
    def forge(self) -> LocalForge:
        return LocalForge(Store.open(self.state), GitRepo(self.repo))


def make_world(root: Path, seed: int = SEED, rules: dict[str, Any] | None = None) -> World:
    """The sample app with its governance, hold-out and scripted answers, on ``main``;
    ``rules``: front matter of factory_rules.md over the world's."""
    data = yaml.safe_load(WORLD.read_text())
    repo, state, _ = generate(root)
    for edit in data["app"]:
        path = repo / edit["file"]
        text = path.read_text()
        if edit["old"] not in text:
            raise ValueError(f"{WORLD.name}: app edit not found in {edit['file']}")
        path.write_text(text.replace(edit["old"], edit["new"], 1))
    (repo / "pages").mkdir()
    (repo / "pages" / "welcome.html").write_text("<h1>Welcome notes</h1>\n")
    rules_file = repo / "factory_rules.md"
    _, front, body = rules_file.read_text().split("---\n", 2)
    merged = {**yaml.safe_load(front), **data["rules_front_matter"], **(rules or {})}
    rules_file.write_text(f"---\n{yaml.safe_dump(merged, sort_keys=False)}---\n{body}")
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["provider"] = {"type": "scripted", "script": str(root / "soak-script.yaml")}
    config["health"] = {"flaky_issue_after": 2}
    config["max_parallel"] = 2
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    GitRepo(repo).commit_all("The soak's notes app: a footer, pages, a TODO")
    world = World(
        root=root,
        repo=repo,
        holdout=root / "notes-holdout",
        state=state,
        script=root / "soak-script.yaml",
        data=data,
        rng=random.Random(seed),
    )
    world.rules = list(data["script"])
    world.base = GitRepo(repo).rev_parse("refs/heads/main") or ""
    _write_script(world)
    return world


def _write_script(world: World) -> None:
    """Page rules first (each matches its own issue), then the world's."""
    world.script.write_text(yaml.safe_dump(world.rules, sort_keys=False, allow_unicode=True))


def _filled(value: Any, topic: str) -> Any:
    """``value`` with ``{topic}`` and ``{Topic}`` filled in, in every string it holds."""
    if isinstance(value, str):
        return value.replace("{topic}", topic).replace("{Topic}", topic.capitalize())
    if isinstance(value, list):
        return [_filled(v, topic) for v in value]
    if isinstance(value, dict):
        return {k: _filled(v, topic) for k, v in value.items()}
    return value


# ---- what the world does -----------------------------------------------------------------


def file_issue(world: World, kind: str, topic: str, author: str) -> int:
    """A user files an issue of ``kind``: a duplicate repeats an earlier page issue word for
    word. A page issue brings its scripted triage and implementation."""
    issues = world.data["issues"]
    if kind == "duplicate":
        known = [t for t, _ in world.pages]
        topic = topic if topic in known else known[0] if known else "alpha"
        kind = "page"
    elif kind == "page":
        world.pages.append((topic, author))
        world.rules[:0] = [_filled(r, topic) for r in world.data["page_script"].values()]
        _write_script(world)
    variants = issues[kind] if isinstance(issues[kind], list) else [issues[kind]]
    seen = sum(k == kind for k in world.filed.values())
    template = _filled(variants[seen % len(variants)], topic)
    number = world.forge.create_issue(template["title"], template["body"], author).number
    world.filed[number] = kind
    return number


def maintainer_change(world: World, change: str) -> str:
    """The maintainer's commit (or hold-out journey): what it was, for the day's log."""
    spec = world.data["maintainer"][change]
    if change == "footer_journey":
        (world.holdout / "journeys" / spec["file"]).write_text(spec["text"])
        return "the maintainer adds a hold-out journey (the footer)"
    if change == "flaky":
        _commit(world, {spec["file"]: spec["text"]}, "A test of the clock")
        world.to_undo.append(change)
        return "the maintainer commits a test that fails one run in two"
    text = _production_file(world, spec["file"])
    if spec["old"] not in text:
        return f"the maintainer's {change}: nothing to change"
    _commit(world, {spec["file"]: text.replace(spec["old"], spec["new"])}, f"Tidy {spec['file']}")
    world.to_undo.append(change)
    return f"the maintainer commits {change}"


def maintainer_answers(world: World) -> list[str]:
    """The morning after: the maintainer reads what waits for a person and answers it — their
    own breakage undone, a flaky test removed once heal named it to a person (an issue open
    now, or closed since: they read what they were told), a change a gate refused for a
    weakened test rejected with the rule it broke (which the lessons cite)."""
    said: list[str] = []
    forge = world.forge
    waiting = [i for i in forge.list_issues("open") if Label.NEEDS_HUMAN in i.labels]
    titles = " ".join(i.title for i in waiting)
    told = [i for i in forge.list_issues("all") if i.author == FACTORY_LOGIN]
    told_text = " ".join(i.title + i.body for i in told if Label.NEEDS_HUMAN in i.labels)
    for change in list(world.to_undo):
        spec = world.data["maintainer"][change]
        flaky_named = Path(spec["file"]).stem in told_text
        flagged = flaky_named if change == "flaky" else "Production is red" in titles
        if not flagged:
            continue
        if change == "flaky":
            _commit(world, {spec["file"]: None}, "Remove the clock test: it was flaky")
        else:
            text = _production_file(world, spec["file"])
            _commit(world, {spec["file"]: text.replace(spec["new"], spec["old"])}, "Undo my tidy")
        world.to_undo.remove(change)
        said.append(f"the maintainer undoes {change}")
    reason = world.data["maintainer"]["reject_reason"]
    rejects = world.data["maintainer"]["rejects"]
    for issue in forge.list_issues("open"):
        review = {Label.NEEDS_REVIEW, Label.NEEDS_HUMAN, Label.FAILED} & set(issue.labels)
        if not review or world.filed.get(issue.number) not in rejects:
            continue
        if _factory(world, "reject", str(issue.number), "--reason", reason)[0] == 0:
            said.append(f"the maintainer rejects #{issue.number}: {reason}")
    return said


def _production_file(world: World, name: str) -> str:
    return GitRepo(world.repo).git("show", f"main:{name}")


def _commit(world: World, files: dict[str, str | None], message: str) -> None:
    """A maintainer's commit on production, in the main checkout (which the factory moves
    with production as it merges)."""
    for name, text in files.items():
        if text is None:
            _git(world.repo, "rm", "-q", "--", name)
        else:
            (world.repo / name).write_text(text)
            _git(world.repo, "add", "--", name)
    _git(world.repo, "commit", "-qm", message)


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **MAINTAINER, "GIT_COMMITTER_NAME": MAINTAINER["GIT_AUTHOR_NAME"]}
    env["GIT_COMMITTER_EMAIL"] = MAINTAINER["GIT_AUTHOR_EMAIL"]
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _factory(world: World, *args: str) -> tuple[int, str]:
    """A factory command in this process (the way a long-running factory lives): its exit
    code and what it printed."""
    from harness.cli import main

    out = io.StringIO()
    code = 0
    began = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            main(["--repo", str(world.repo), *args])
        except SystemExit as exc:
            code = int(exc.code or 0) if not isinstance(exc.code, str) else 2
    if os.environ.get("SOAK_VERBOSE"):
        print(
            f"    {' '.join(args)}: exit {code} in {time.monotonic() - began:.1f} s",
            file=sys.stderr,
        )
        print(out.getvalue()[-3000:], file=sys.stderr)
    return code, out.getvalue()


def killed_cycle(world: World, point: str) -> int:
    """``factory run --once`` in a process of its own, killed (SIGKILL) where it reaches
    ``point``: its return code (-9 when the kill landed)."""
    launcher = (
        "import sys\nimport harness.store.base as clock\n"
        f"clock.DAYS_AHEAD_S = {store_clock.DAYS_AHEAD_S!r}\n"
        "from harness.cli import main\nmain(sys.argv[1:])\n"
    )
    env = {**os.environ, "FACTORY_FAULT_AT": point, "FACTORY_STATE_DIR": str(world.state)}
    argv = [sys.executable, "-c", launcher, "--repo", str(world.repo), "run", "--once", "--json"]
    return subprocess.run(argv, env=env, capture_output=True, text=True).returncode


# ---- a day -------------------------------------------------------------------------------


def plan_of(world: World, day: int) -> dict[str, Any]:
    """What happens on ``day``: written for the first five, drawn with the seed after."""
    if day in world.data["days"]:
        return dict(world.data["days"][day])
    later, rng = world.data["later"], world.rng
    files: list[list[str]] = []
    for item in later["file"]:
        if rng.random() < item["chance"]:
            topic = rng.choice(later["topics"]) + str(day)
            files.append([item["kind"], topic, rng.choice(later["authors"])])
    changes = [m["change"] for m in later["maintainer"] if rng.random() < m["chance"]]
    kill = later["kill"]["points"] if rng.random() < later["kill"]["chance"] else []
    return {"file": files, "maintainer": changes, "kill": kill}


def live_day(world: World, day: int) -> Day:
    """One day: the maintainer, the users, two cycles (the first killed on a kill day), the
    night's health and audit, the week's lessons."""
    store_clock.DAYS_AHEAD_S = _ahead(world, day)
    lived = Day(day)
    plan = plan_of(world, day)
    lived.happened += maintainer_answers(world)
    for change in plan.get("maintainer", []):
        lived.happened.append(maintainer_change(world, change))
    for kind, topic, author in plan.get("file", []):
        number = file_issue(world, kind, topic or str(day), author)
        lived.happened.append(f"{author} files #{number} ({kind})")
    if plan.get("kill"):
        point = world.rng.choice(plan["kill"])
        code = killed_cycle(world, point)
        landed = "killed" if code == -9 else f"not reached (exit {code})"
        lived.happened.append(f"factory run, kill -9 at {point}: {landed}")
    else:
        lived.happened.append(f"factory run: exit {_factory(world, 'run', '--once')[0]}")
    lived.happened.append(f"factory run: exit {_factory(world, 'run', '--once')[0]}")
    lived.happened.append(f"nightly health: exit {_factory(world, 'health')[0]}")
    lived.happened.append(f"nightly audit: exit {_factory(world, 'audit')[0]}")
    if day % 7 == 5:
        lived.happened.append(f"weekly lessons: exit {_factory(world, 'lessons', 'propose')[0]}")
    lived.invariants = invariants(world, day)
    lived.figures = figures(world, day)
    return lived


def _ahead(world: World, day: int) -> float:
    """How far ahead the factory's clock runs so that now is 09:00 UTC on day ``day``."""
    first = datetime.fromtimestamp(world.start, UTC).replace(hour=0, minute=0, second=0)
    morning = first + timedelta(days=day, seconds=FIRST_HOUR_S)
    return morning.timestamp() - time.time()


def day_of(world: World, stamp: str | None) -> int:
    """The simulated day a record written at ``stamp`` (the store's UTC time) belongs to."""
    if not stamp:
        return 0
    at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    first = datetime.fromtimestamp(world.start, UTC).date()
    return (at.date() - first).days


# ---- what the records say ----------------------------------------------------------------


@dataclass
class Records:
    """The factory's records as they are now: its store's runs and their typed records, its
    forge's issues and comments, its production branch."""

    store: Store
    runs: list[Any]
    records: dict[str, RunRecords]
    issues: list[Any]
    comments: dict[int, list[Any]]


def read_records(world: World) -> Records:
    store = Store.open(world.state)
    runs = store.list_runs(limit=100_000)
    forge = world.forge
    issues = forge.list_issues("all")
    return Records(
        store=store,
        runs=runs,
        records={r.id: RunRecords(store.steps(r.id)) for r in runs},
        issues=issues,
        comments={i.number: forge.list_comments(i.number) for i in issues},
    )


def _typed(records: Records, kind: type[Any], workflow: str | None = None) -> list[Any]:
    """Every ``kind`` record of the succeeded runs (of ``workflow``), with its run."""
    found = []
    for run in records.runs:
        if run.status == "succeeded" and workflow in (None, run.workflow):
            found += [(run, r) for _, r in records.records[run.id].every(kind)]
    return found


INVARIANTS = (
    "tested as landed",
    "green or with a person",
    "in progress without a run",
    "nothing twice",
    "regression loops close",
    "within budgets",
    "one proposal per cause",
)


def invariants(world: World, day: int) -> dict[str, list[str]]:
    """Per invariant, each break: one line naming the record that breaks it."""
    records = read_records(world)
    checks = (
        tested_as_landed(world, records),
        green_or_with_a_person(world, records, day),
        nothing_in_progress_without_a_run(records),
        nothing_twice(records),
        regression_loops_close(world, records, day),
        within_budgets(world, records),
        one_proposal_per_cause(records),
    )
    return dict(zip(INVARIANTS, checks, strict=True))


def tested_as_landed(world: World, records: Records) -> list[str]:
    """Every commit the factory put on production since the soak began (git's author: the
    factory) is a merge it recorded (a ``Landing``) whose tree is the tree its candidate's
    tests and journeys passed on, or a return to a tree production held before (a merge its
    smoke run undid)."""
    repo = GitRepo(world.repo)
    landed = {landing.merge_sha: landing for _, landing in _typed(records, Landing)}
    checked = {c.tree for _, c in _typed(records, CheckResult)}
    history = repo.first_parents(repo.rev_parse("refs/heads/main") or "", 10_000)
    history = history[: history.index(world.base)] if world.base in history else history
    trees = [str(repo.tree_of(sha)) for sha in history]
    broken = []
    for at, sha in enumerate(history):
        if repo.git("log", "-1", "--format=%an", sha).strip() != FACTORY_AUTHOR:
            continue  # a person's commit: production's health checks it
        landing = landed.get(sha)
        tree = trees[at]
        if landing is None and tree not in trees[at + 1 :]:
            broken.append(f"tested as landed: production commit {sha[:12]} has no Landing")
        elif landing is not None and (tree != landing.tested_tree or tree not in checked):
            broken.append(
                f"tested as landed: {sha[:12]} holds tree {tree[:12]}, not the tested one"
            )
    return broken


def green_or_with_a_person(world: World, records: Records, day: int) -> list[str]:
    """After the day's cycles and the night's health, production is known green under the
    hold-out, or heal found its red flaky (each flake counted, a person told after
    ``health.flaky_issue_after``), or an open issue of heal's says why to a person, or heal
    found it red today and its revert waits for the next cycle (docs/heal.md, SafetyGuard:
    the cycle after a heal validates its revert first)."""
    repo = GitRepo(world.repo)
    head = repo.rev_parse("refs/heads/main") or ""
    if records.store.get_flag(health_key(repo, head, world.holdout)):
        return []
    by_number = {i.number: i for i in records.issues}
    for run, healed in _typed(records, Healed):
        if healed.sha != head:
            continue
        person = by_number.get(healed.person_issue or 0)
        if person is not None and person.state == "open":
            return []
        if healed.outcome == "flaky":  # the checks passed again: counted, the cycle goes on
            return []
        fix = by_number.get(healed.regression_issue or 0)
        reverting = fix is not None and _under_way(fix) and day_of(world, run.started_at) == day
        if healed.outcome == "reverted" and reverting:
            return []
    return [
        f"green or with a person: production {head[:12]} is not green and no open issue says why"
    ]


def _under_way(issue: Any) -> bool:
    """Open, and neither ended nor left to a person."""
    ended = {Label.NEEDS_HUMAN, Label.FAILED, Label.REJECTED}
    return bool(issue.state == "open" and not ended & set(issue.labels))


def nothing_in_progress_without_a_run(records: Records) -> list[str]:
    """An open issue labelled in progress has an unfinished run on it (killed, deferred or
    running: the next cycle takes it up), or is the culprit of a regression loop still open."""
    unfinished = {r.issue for r in records.runs if r.finished_at is None and r.issue is not None}
    waiting = set()
    by_number = {i.number: i for i in records.issues}
    for _, healed in _typed(records, Healed):
        fix = by_number.get(healed.regression_issue or 0)
        if (
            fix is not None
            and fix.state == "open"
            and not {Label.NEEDS_HUMAN, Label.FAILED} & set(fix.labels)
        ):
            waiting.add(healed.culprit_issue)
    return [
        f"in progress without a run: #{i.number} ({', '.join(sorted(i.labels))})"
        for i in records.issues
        if i.state == "open"
        and Label.IN_PROGRESS in i.labels
        and i.number not in unfinished | waiting
    ]


def nothing_twice(records: Records) -> list[str]:
    """No issue filed twice by the factory (one title each), no comment posted twice (one per
    marker), no pull request merged twice, no issue's change landed twice."""
    broken = []
    own = Counter(i.title for i in records.issues if i.author == FACTORY_LOGIN)
    broken += [f"filed twice: {n} issues titled {t!r}" for t, n in own.items() if n > 1]
    for number, comments in records.comments.items():
        said = Counter(c.body.partition("\n")[2] for c in comments if c.author == FACTORY_LOGIN)
        broken += [f"commented twice: #{number}: {b[:60]!r} ×{n}" for b, n in said.items() if n > 1]
    landings = [landing for _, landing in _typed(records, Landing)]
    prs = Counter(landing.pr for landing in landings)
    broken += [f"merged twice: pull request {pr} ×{n}" for pr, n in prs.items() if n > 1]
    heads = Counter((landing.issue, landing.head) for landing in landings)
    broken += [f"merged twice: #{i} at {h[:12]} ×{n}" for (i, h), n in heads.items() if n > 1]
    return broken


def regression_loops_close(world: World, records: Records, day: int) -> list[str]:
    """Each revert heal started is closed — the culprit reverted, the regression issue's fix
    merged, both issues closed — or either is with a person, by the end of the first day after
    the heal's on which the factory could work: a day on which heal handed red production to
    a person (a commit the factory did not land, the environment) does not count, as the
    factory stops then (docs/heal.md, "Act"). Two cycles a day: at most three cycles of the
    factory's own."""
    by_number = {i.number: i for i in records.issues}
    healed_all = _typed(records, Healed)
    stopped = {
        day_of(world, run.started_at)
        for run, healed in healed_all
        if healed.outcome in ("needs_human", "environment") and healed.regression_issue is None
    }
    broken = []
    for run, healed in healed_all:
        since = day_of(world, run.started_at)
        working = [d for d in range(since + 1, day + 1) if d not in stopped]
        if healed.outcome != "reverted" or not working:
            continue
        fix = by_number.get(healed.regression_issue or 0)
        culprit = by_number.get(healed.culprit_issue or 0)
        if fix is None or culprit is None:
            broken.append(f"regression loop: heal {run.id} names an issue that does not exist")
            continue
        person = any(Label.NEEDS_HUMAN in i.labels for i in (fix, culprit))
        closed = fix.state == "closed" and culprit.state == "closed"
        merged = Label.MERGED in fix.labels and Label.MERGED in culprit.labels
        if not (person or (closed and merged)):
            broken.append(
                f"regression loop open: #{culprit.number} ({culprit.state}, "
                f"{', '.join(sorted(culprit.labels))}) and its regression issue #{fix.number} "
                f"({fix.state}, {', '.join(sorted(fix.labels))}) since heal {run.id}"
            )
    return broken


def within_budgets(world: World, records: Records) -> list[str]:
    """What the store recorded as spent: within every budget of factory_rules.md."""
    from harness.config.settings import load_settings

    rules = load_settings(world.repo, world.state).governance.rules
    budgets, store = rules.budgets, records.store
    broken = []
    for run in records.runs:
        spent = store.spend(run_id=run.id)
        own = rules.workflow_usd(run.workflow)
        for name, cap in (("per_run_usd", budgets.per_run_usd), (f"{run.workflow}.max_usd", own)):
            if cap is not None and spent > cap + 1e-9:
                broken.append(f"budget: run {run.id} spent ${spent:.4f} over {name} ${cap}")
    for number in {r.issue for r in records.runs if r.issue is not None}:
        spent = store.spend(issue=number)
        if spent > budgets.per_issue_usd + 1e-9:
            broken.append(f"budget: #{number} spent ${spent:.4f} over per_issue_usd")
    per_day: dict[int, float] = {}  # the factory's days, by the store's clock
    for run in records.runs:
        day = day_of(world, run.started_at)
        per_day[day] = per_day.get(day, 0.0) + store.spend(run_id=run.id)
    broken += [
        f"budget: day {d} spent ${s:.4f} over per_day_usd"
        for d, s in per_day.items()
        if s > budgets.per_day_usd + 1e-9
    ]
    return broken


def one_proposal_per_cause(records: Records) -> list[str]:
    """No two open proposals cite the same issue: one cause, one proposal."""
    open_prs = {p.number for p in records.store.prs() if p.state == "open"}
    cited: dict[int, list[int]] = {}
    issue_of = {run.id: run.issue for run in records.runs}  # a citation's key starts with its run
    for _, proposal in _typed(records, Proposal):
        if proposal.pr in open_prs:
            for issue in {issue_of.get(ref.split(":")[0]) for ref in proposal.cited} - {None}:
                cited.setdefault(int(str(issue)), []).append(proposal.pr)
    return [
        f"one proposal per cause: #{issue} is cited by proposals {sorted(set(prs))}"
        for issue, prs in cited.items()
        if len(set(prs)) > 1
    ]


def figures(world: World, day: int) -> dict[str, float]:
    """The day's figures, from the records: issues merged (an issue's change landed), left to
    a person (issues labelled so that day, open at its end), healed (heals that reverted or
    called a flake), found (issues the audit filed), proposed (lessons' pull requests), the
    model's cost, and the whole suite's runs."""
    records = read_records(world)
    today = [r for r in records.runs if day_of(world, r.started_at) == day]
    ids = {r.id for r in today}

    def count(kind: type[Any]) -> list[Any]:
        return [x for run, x in _typed(records, kind) if run.id in ids]

    reverted = {landing.issue for landing in count(Landing)}
    healed = [h for h in count(Healed) if h.outcome in ("reverted", "flaky")]
    person = [
        i
        for i in records.issues
        if i.state == "open"
        and Label.NEEDS_HUMAN in i.labels
        and day_of(world, i.updated_at) == day
    ]
    return {
        "merged": len(reverted),
        "person": len(person),
        "healed": len(healed),
        "found": sum(len(f.issues) for f in count(Found)),
        "proposed": len(count(Proposal)),
        "cost_usd": sum(records.store.spend(run_id=r.id) for r in today),
        "suite_runs": sum(  # every start, a run killed mid-suite or a time limit's included
            e.data["suite"] for r in today for e in records.store.events(run_id=r.id, kind=RAN)
        ),
    }


# ---- the whole soak ----------------------------------------------------------------------


@contextlib.contextmanager
def _factory_env(world: World) -> Iterator[None]:
    """The world's state for every factory command, and the factory's clock put back after."""
    before = os.environ.get("FACTORY_STATE_DIR")
    os.environ["FACTORY_STATE_DIR"] = str(world.state)
    try:
        yield
    finally:
        store_clock.DAYS_AHEAD_S = 0.0
        if before is None:
            os.environ.pop("FACTORY_STATE_DIR", None)
        else:
            os.environ["FACTORY_STATE_DIR"] = before


def soak(
    root: Path,
    days: int,
    seed: int = SEED,
    say: Any = print,
    rules: dict[str, Any] | None = None,
) -> tuple[World, list[Day]]:
    """``days`` simulated days of one factory in ``root``: the world, each day as lived
    (``rules``: front matter of factory_rules.md over the world's)."""
    world = make_world(root, seed, rules)
    world.start = time.time()
    lived: list[Day] = []
    with _factory_env(world):
        for day in range(1, days + 1):
            lived.append(live_day(world, day))
            say(day_line(lived[-1]))
    return world, lived


def day_line(day: Day) -> str:
    shown = ", ".join(
        f"{k} {v:.4f}" if k == "cost_usd" else f"{k} {v:g}" for k, v in day.figures.items()
    )
    head = f"day {day.day}: {shown}"
    said = "".join(f"\n  - {h}" for h in day.happened)
    broken = "".join(f"\n  BROKEN {b}" for b in day.broken) or "\n  every invariant holds"
    return head + said + broken


def soak_rows(days: list[Day]) -> list[str]:
    """The per-day table ``benchmarks/results.md`` shows."""
    rows = [
        "| day | merged | needing a person | healed | found | proposed | cost | suite runs "
        "| invariants |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for d in days:
        f = d.figures
        held = "all hold" if not d.broken else "; ".join(d.broken)
        rows.append(
            f"| {d.day} | {f['merged']:g} | {f['person']:g} | {f['healed']:g} | {f['found']:g} "
            f"| {f['proposed']:g} | ${f['cost_usd']:.4f} | {f['suite_runs']:g} | {held} |"
        )
    return rows


def unfired(world: World, days: list[Day]) -> list[str]:
    """The capabilities the soak promises to exercise that its records show never fired: a
    run whose invariants all held while nothing happened proves nothing."""
    records = read_records(world)
    every = [item for run in records.runs for item in records.records[run.id].every(Artifact)]
    healed = [a for _, a in every if isinstance(a, Healed)]
    fired = {
        "a change merged": any(d.figures["merged"] for d in days),
        "heal reverted a factory merge": any(h.outcome == "reverted" for h in healed),
        "a red check diagnosed": any(isinstance(a, Diagnosis) for _, a in every),
        "the audit filed a finding": any(isinstance(a, Found) and a.issues for _, a in every),
        "a lessons run": any(r.workflow == "lessons" for r in records.runs),
        "a factory run killed and resumed": any(
            "kill -9" in h and h.endswith(": killed") for d in days for h in d.happened
        ),
    }
    return [name for name, happened in fired.items() if not happened]


def soak_section(days: int = 30) -> str:
    """The soak as ``benchmarks/results.md`` shows it: one row per day, from one run."""
    import tempfile

    began = time.monotonic()
    world, lived = soak(Path(tempfile.mkdtemp(prefix="factory-soak-")), days)
    held = sum(not d.broken for d in lived)
    missing = unfired(world, lived)
    fired = f"Never fired: {', '.join(missing)}." if missing else "Every capability fired."
    return (
        f"## {days} days unattended (`python -m benchmarks soak --days {days}`)\n\n"
        f"One factory on the soak's notes app (`benchmarks/soak_world.yaml`), the scripted model, "
        f"{time.monotonic() - began:.0f} s in all; the figures and the invariants of each day "
        f"are read from the factory's own records. Every invariant held on {held} of "
        f"{days} days. {fired}\n\n" + "\n".join(soak_rows(lived)) + "\n"
    )


def main(argv: list[str]) -> int:
    """``python -m benchmarks soak [--days N]``: printed, not written to results.md; exit 1
    when an invariant broke on any day. ``SOAK_DIR`` keeps the factory's files there."""
    days = int(argv[argv.index("--days") + 1]) if "--days" in argv else 30
    kept = os.environ.get("SOAK_DIR")
    import tempfile

    where = Path(kept) if kept else Path(tempfile.mkdtemp(prefix="factory-soak-"))
    try:
        world, lived = soak(where, days)
        missing = unfired(world, lived)
    finally:
        if not kept:
            shutil.rmtree(where, ignore_errors=True)
    print("\n".join(soak_rows(lived)))
    print(f"never fired: {', '.join(missing)}" if missing else "every capability fired")
    return 1 if missing or any(d.broken for d in lived) else 0
