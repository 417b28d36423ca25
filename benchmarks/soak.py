"""``python -m benchmarks soak [--days N] [--seed S] [--github D] [--mutants] [--only USER …]``:
one factory, left alone for N simulated days, then the same world again on the GitHub stand-in
for its last D days (``--github``; a third of the days by default from nine days on); with
``--only``, the opening's issues are those of the users named alone (a fault's world no larger
than it needs).

A sample app (the demo's notes app, ``benchmarks/soak_world.yaml``) with the scripted model
and a world that can hurt, drawn from the seed: users file good, vague, duplicate, long,
foreign-language and hostile issues (``benchmarks/soak_users.py``), comment on them, and
answer a request for information by editing; the scripted model is wrong the ways a real one
is (a weakened test, a module it never wrote, a regression no test covers, a validator that
fails a good change, a reviewer who disagrees, an injection it would obey were it shown);
the maintainer commits, breaks a test, a journey or the pages (what only the learned checks
see), adds a journey, a flaky test, a TODO, caps a day's spend low, and answers what waits
for a person the next morning; a ``factory run`` (or the night's audit) is killed (SIGKILL)
at a named point of ``harness/faults.py`` every day — each week at least once between each
kind of forge write and its record.

Each day: the maintainer and the users, two cycles (09:00 and 15:00 on the factory's clock),
production's health and the audit at night (23:00), the week's lessons; the maintainer (or a
user) acts between the cycles too, and while the factory is down after a kill (it stops the
factory, cancels an issue, adds a journey before a merge's smoke check). After every factory
command the world looks with its own eyes (``benchmarks/soak_oracle.py``: production started
and asked, the forge, the model's recorded calls priced by the world); after every day the
invariants are read — what the world saw, and for the factory's bookkeeping its records —
and the figures (``benchmarks/soak_records.py``)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

import harness.store.base as store_clock
from benchmarks.soak_oracle import eyes, kind_of, look, promise_of, state_of
from benchmarks.soak_records import (
    SETTLED,
    Day,
    day_line,
    invariants,
    read_day,
    read_records,
    verdict,
)
from benchmarks.soak_sides import LocalSide, Side, github_side
from benchmarks.soak_state import Issued, World
from benchmarks.soak_users import Users, Written
from harness.demo import generate
from harness.forge.base import Label
from harness.git.repo import GitRepo

WORLD = Path(__file__).with_name("soak_world.yaml")
SEED = 20261127
MAINTAINER = {"GIT_AUTHOR_NAME": "Mae Maintainer", "GIT_AUTHOR_EMAIL": "mae@example.invalid"}
WAITING = (Label.NEEDS_HUMAN, Label.NEEDS_REVIEW, Label.FAILED)


def make_world(
    root: Path, seed: int = SEED, rules: dict[str, Any] | None = None, github: bool = False
) -> World:
    """The sample app with its governance, hold-out and scripted answers, on ``main``, on the
    local forge or the GitHub stand-in; ``rules``: front matter of factory_rules.md over the
    world's."""
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
    # every call the model answers, as it answered it: what the world prices and searches
    config["provider"] = {
        "type": "scripted",
        "script": str(root / "soak-script.yaml"),
        "record": str(root / "model-calls"),
    }
    config["health"] = {"flaky_issue_after": 2}
    config["max_parallel"] = 2
    if github:
        config["forge"] = "github"
        config["github"] = {"repository": "acme/app", "write_interval_s": 0.0}
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    GitRepo(repo).commit_all("The soak's notes app: a footer, pages, a TODO")
    rng = random.Random(f"{seed}:{'github' if github else 'local'}")
    side: Side = github_side(root, repo) if github else LocalSide(repo, state)
    world = World(
        root=root,
        repo=repo,
        holdout=root / "notes-holdout",
        state=state,
        script=root / "soak-script.yaml",
        calls=root / "model-calls",
        data=data,
        rng=rng,
        users=Users(random.Random(rng.random())),
        side=side,
        journeys={p.name: 0.0 for p in (root / "notes-holdout" / "journeys").glob("*.yaml")},
    )
    world.base = side.production()
    write_script(world)
    return world


# ---- what the scripted model answers -----------------------------------------------------


def issue_rules(data: dict[str, Any], number: int, written: Written) -> list[dict[str, Any]]:
    """The scripted model's answers to one user's issue (its triage, its change, its review
    and its validation, by the issue's title: the first line of what a rule's ``match``
    reads), and to the regression issue heal would file about its merge."""
    if written.kind == "duplicate":
        return []  # word for word: the pre-screen refuses it before any model reads it
    spec = kind_of(data, written.kind)
    fill = {"topic": written.topic, "number": str(number), "of": str(written.of or "")}
    this = rf"\A{re.escape(written.title)}\n"
    rules = [_rule("submit_triage", this, [[_tool("submit_triage", spec["triage"])]], fill)]
    if "code" not in spec:
        return rules
    again = rf"\ARegression since [0-9a-f]+ \(#{number}\)"
    fixed = spec.get("regression", spec["code"])
    regression = [[_tool("submit_triage", data["regression_triage"])]]
    for match, code, review, verdict_name in (
        (this, spec["code"], spec["review"], spec["verdict"]),
        (again, fixed, "approve", "pass"),
    ):
        rules.append(_rule("finish", match, code, fill))
        rules.append(_rule("submit_review", match, data["reviewer"][review], fill))
        rules.append(_rule("submit_verdict", match, data["validator"][verdict_name], fill))
    rules.append(_rule("submit_triage", again, regression, fill))
    return rules


def _tool(name: str, given: dict[str, Any]) -> dict[str, Any]:
    return {"tool": name, "input": given}


def _rule(output: str, match: str, turns: Any, fill: dict[str, str]) -> dict[str, Any]:
    return {"output": output, "match": match, "turns": _filled(turns, fill)}


def _filled(value: Any, fill: dict[str, str]) -> Any:
    """``value`` with ``{topic}``, ``{Topic}``, ``{number}`` and ``{of}`` filled in."""
    if isinstance(value, str):
        topic = fill.get("topic", "")
        value = value.replace("{topic}", topic).replace("{Topic}", topic.capitalize())
        return value.replace("{number}", fill.get("number", "")).replace("{of}", fill.get("of", ""))
    if isinstance(value, list):
        return [_filled(v, fill) for v in value]
    if isinstance(value, dict):
        return {k: _filled(v, fill) for k, v in value.items()}
    return value


def write_script(world: World) -> None:
    """Each issue's answers first (newest first), the auditor's findings as the code holds
    them, then the world's."""
    script = world.data["script"]
    (auditor,) = [rule for rule in script if rule["output"] == "submit_findings"]
    findings = auditor["turns"][0][0]["input"]["findings"]
    extra = [
        {**findings[0], "snippet": todo, "message": f"A TODO: {todo}", "criterion": "Done."}
        for todo in world.todos
    ]
    found = [[_tool("submit_findings", {"findings": [*findings, *extra]})]]
    rules = [
        *world.rules,
        *({**r, "turns": found} if r is auditor else r for r in script),
    ]
    # written again whole for every issue filed: libyaml's emitter, five times as fast
    text = yaml.dump(rules, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True)
    world.script.write_text(text)


# ---- what the world does -----------------------------------------------------------------


def file_issue(world: World, day: int, entry: dict[str, Any]) -> str:
    """A user files an issue of ``entry['kind']``: written by the users' generator, with
    the scripted model's answers to it."""
    kind, author = entry["kind"], entry["author"]
    topic = entry.get("topic") or _topic(world, day)
    of = None
    if kind in ("duplicate", "near_duplicate"):
        pages = [i for i in world.issued.values() if i.written.kind.startswith("page")]
        named = [i for i in pages if i.written.author == entry.get("of")]
        earlier = (named or pages)[-1:] if named or not pages else [world.rng.choice(pages)]
        if not earlier:
            return f"{author} meant a {kind} of nothing yet filed: skipped"
        of = (earlier[0].number, earlier[0].written)
    written = world.users.write(
        kind,
        author,
        topic,
        language=entry.get("language"),
        long=bool(entry.get("long")),
        style=entry.get("style"),
        of=of,
    )
    number = world.side.file(written.title, written.body, author)
    world.issued[number] = Issued(number, written, day)
    world.rules[:0] = issue_rules(world.data, number, written)
    write_script(world)
    return f"{author} files #{number} ({kind}{', ' + written.language if written.language else ''})"


def _topic(world: World, day: int) -> str:
    taken = {i.written.topic for i in world.issued.values()}
    for _ in range(100):
        topic = f"{world.rng.choice(world.data['later']['topics'])}{day}"
        if topic not in taken:
            return topic
    return f"topic{day}x{len(taken)}"


def edit_issue(world: World, day: int, author: str, topic: str | None) -> str:
    """The author of a vague issue answers its request for information by editing it: it
    was a page they wanted (and the scripted model now understands it so)."""
    for issue in reversed(list(world.issued.values())):
        if issue.written.author == author and issue.written.kind == "vague" and not issue.edited:
            written = world.users.edit(issue.written, topic or _topic(world, day))
            world.side.edit(issue.number, written.title, written.body)
            issue.edited = True
            world.issued[issue.number] = Issued(issue.number, written, issue.day, edited=True)
            world.rules[:0] = issue_rules(world.data, issue.number, written)
            write_script(world)
            return f"{author} edits #{issue.number}: a page about {written.topic}"
    return f"{author} has no vague issue to edit"


def users_comment(world: World, chance: float) -> list[str]:
    """Users comment on their open issues now and then: a nudge, a reply to what the factory
    said last, now and then an injection."""
    said = []
    for issue in world.side.issues("open"):
        mine = world.issued.get(issue.number)
        if mine is None or world.rng.random() >= chance:
            continue
        factory = [c.body for c in world.side.comments(issue.number) if world.side.is_own(c.author)]
        text = world.users.comment(mine.written.language, factory[-1] if factory else None)
        world.side.comment(issue.number, mine.written.author, text)
        said.append(f"{mine.written.author} comments on #{issue.number}")
    return said


def maintainer_change(world: World, day: int, change: str) -> str:
    """The maintainer's commit (or hold-out journey): what it was, for the day's log."""
    spec = world.data["maintainer"][change]
    if change == "footer_journey":
        (world.holdout / "journeys" / spec["file"]).write_text(spec["text"])
        world.journeys[spec["file"]] = store_clock.factory_now()
        return "the maintainer adds a hold-out journey (the footer)"
    if change == "flaky":
        if spec["file"] in world.side.production_files():
            return "the maintainer's flaky test is there already"
        seed = world.rng.randrange(10**9)
        text = spec["text"].format(seed=seed, chance=spec["chance"])
        world.side.commit({spec["file"]: text}, "A test of the clock")
        world.watch.broke[world.side.production()] = spec["fails"]
        return f"the maintainer commits a test that fails one run in {1 / spec['chance']:g}"
    if change == "low_budget":
        _set_budget(world, spec["per_day_usd"], "Cap today's spend")
        world.watch.capped.add(day)
        world.to_undo.append(change)
        return f"the maintainer caps today's spend at ${spec['per_day_usd']}"
    if change == "notes":  # a small commit of their own: production's tree is new
        text = (
            world.side.production_file(spec["file"])
            if spec["file"] in world.side.production_files()
            else ""
        )
        world.side.commit({spec["file"]: text + spec["line"].format(day=day)}, "Notes")
        return "the maintainer commits a note"
    if change == "todo":
        text = world.side.production_file(spec["file"])
        line = spec["new"].format(day=day).split("\n")[1]
        if line in text:
            return "the maintainer's TODO is there already"
        world.side.commit(
            {spec["file"]: text.replace(spec["old"], spec["old"] + line + "\n")}, "A TODO"
        )
        world.todos.append(line)
        write_script(world)
        return "the maintainer adds a TODO"
    text = world.side.production_file(spec["file"])
    mending = any(c.startswith("break") for c in world.to_undo) or world.mended == day
    if spec["old"] not in text or mending:  # one breakage at a time, not on the day of a fix
        return f"the maintainer's {change}: nothing to change"
    world.side.commit(
        {spec["file"]: text.replace(spec["old"], spec["new"])}, f"Tidy {spec['file']}"
    )
    world.broke_at[change] = world.side.production()
    world.watch.broke[world.broke_at[change]] = spec["fails"]
    world.to_undo.append(change)
    return f"the maintainer commits {change}"


def _set_budget(world: World, per_day: float | None, message: str) -> None:
    """factory_rules.md with the day's spend capped at ``per_day`` (None: the cap it had
    before the maintainer lowered it)."""
    text = world.side.production_file("factory_rules.md")
    _, front, body = text.split("---\n", 2)
    rules = yaml.safe_load(front)
    if per_day is not None:
        world.cap_before = rules["budgets"]["per_day_usd"]
    rules["budgets"]["per_day_usd"] = per_day if per_day is not None else world.cap_before
    world.side.commit(
        {"factory_rules.md": f"---\n{yaml.safe_dump(rules, sort_keys=False)}---\n{body}"}, message
    )


def maintainer_answers(world: World, day: int) -> list[str]:
    """The morning after: the maintainer reads what the factory told them and answers what
    waits for a person — their own breakage undone once heal says production is red since the
    commit that made it (told of another red, they would not know it is theirs), the
    flaky test removed once heal names it flaky, yesterday's spending cap lifted, and every
    issue waiting for a person with the factory's reason for it decided: a disputed change
    approved, anything else rejected with the reason its kind calls for. What waits with no
    reason given is not answered: nobody told them."""
    said: list[str] = []
    side, now = world.side, store_clock.factory_now()
    acted, closed = world.watch.acted, world.watch.closed  # what a person decided, and when
    every = side.issues("all")
    told = [i for i in every if side.is_own(i.author)]
    red = [i for i in told if i.state == "open" and "Production is red" in i.title]
    for change in list(world.to_undo):
        spec = world.data["maintainer"][change]
        theirs = [i for i in red if world.broke_at.get(change, "?")[:12] in i.title]
        if change == "low_budget":
            _set_budget(world, None, "Lift the cap on today's spend")
        elif theirs:
            text = side.production_file(spec["file"])
            side.commit({spec["file"]: text.replace(spec["new"], spec["old"])}, "Undo my tidy")
            acted.update({i.number: now for i in theirs})
            world.mended = day
        else:
            continue
        world.to_undo.remove(change)
        said.append(f"the maintainer undoes {change}")
    flaky_file = world.data["maintainer"]["flaky"]["file"]
    for issue in told:
        named = Path(flaky_file).stem in issue.title and issue.title.startswith("Flaky check")
        if named and issue.state == "open" and flaky_file in side.production_files():
            side.commit({flaky_file: None}, "Remove the clock test: it is flaky")
            acted[issue.number] = now
            closed.add(issue.number)
            side.close(issue.number)
            said.append(f"the maintainer removes the flaky test (#{issue.number})")
    reasons = world.data["maintainer"]["reject_reason"]
    for issue in side.issues("open"):
        if not set(WAITING) & set(issue.labels) or issue.title.startswith(
            ("Production is red", "Flaky check")
        ):
            continue
        given = side.is_own(issue.author) or any(
            side.is_own(c.author) for c in side.comments(issue.number)
        )
        if not given:
            continue
        mine = world.issued.get(issue.number)
        kind = mine.written.kind if mine else "other"
        reason = reasons.get(kind, reasons["other"])
        why = " ".join(c.body for c in side.comments(issue.number) if side.is_own(c.author))
        acted[issue.number] = now
        if Label.FAILED in issue.labels and "budget" in why.casefold():  # the cap was theirs
            if _factory(world, "retry", str(issue.number))[0] == 0:
                said.append(f"the maintainer retries #{issue.number}: their cap stopped it")
        elif Label.FAILED in issue.labels:  # the factory gave up: the maintainer closes it
            closed.add(issue.number)
            side.comment(issue.number, "mae", reason)
            side.close(issue.number)
            said.append(f"the maintainer closes #{issue.number}: {reason[:60]}")
        elif kind == "page_disputed" and _factory(world, "approve", str(issue.number))[0] == 0:
            said.append(f"the maintainer approves #{issue.number}")
        else:
            closed.add(issue.number)
            if _factory(world, "reject", str(issue.number), "--reason", reason)[0] == 0:
                said.append(f"the maintainer rejects #{issue.number}: {reason[:60]}")
    return said


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
            f"    {' '.join(args)[:80]}: exit {code} in {time.monotonic() - began:.1f} s",
            file=sys.stderr,
        )
        print(out.getvalue()[-3000:], file=sys.stderr)
    look(world, args[0], ended=True)
    return code, out.getvalue()


def killed(world: World, point: str, *command: str) -> int:
    """A factory ``command`` in a process of its own (forked from the world's server,
    ``benchmarks/soak_kills.py``), killed (SIGKILL) where it reaches ``point``: its exit code
    (-9 when the kill landed)."""
    env = {**os.environ, "FACTORY_FAULT_AT": point, "FACTORY_STATE_DIR": str(world.state)}
    argv = ["--repo", str(world.repo), *command]
    code = world.forks.run(argv, env, store_clock.DAYS_AHEAD_S)
    look(world, command[0], ended=code != -9)
    return code


# ---- a day -------------------------------------------------------------------------------


def plan_of(world: World, day: int) -> dict[str, Any]:
    """What happens on the stretch's ``day``: written for the opening, drawn after."""
    opening = world.data["opening"]
    if day in opening:
        plan = dict(opening[day])
        if world.only:  # the opening's users the soak keeps: their issues and their edits
            for what in ("file", "edit"):
                plan[what] = [e for e in plan.get(what, []) if e["author"] in world.only]
            plan["midday"] = [
                a
                for a in plan.get("midday", [])
                if not isinstance(a, dict) or a.get("file", {}).get("author") in (None, *world.only)
            ]
        for what in ("maintainer", "midday"):  # the maintainer's changes the soak leaves out
            plan[what] = [a for a in plan.get(what, []) if a not in world.without]
        return plan
    later, rng = world.data["later"], world.rng
    files: list[dict[str, Any]] = []
    for item in later["file"]:
        if rng.random() < item["chance"]:
            entry = {"kind": item["kind"], "author": rng.choice(later["authors"])}
            if item["kind"].startswith("page"):
                entry["long"] = rng.random() < 0.15
            files.append(entry)
    edits = [
        {"author": i.written.author}
        for i in world.issued.values()
        if i.written.kind == "vague" and not i.edited and rng.random() < later["edit_chance"]
    ]
    changes = [m["change"] for m in later["maintainer"] if rng.random() < m["chance"]]
    if "forge.issue.filed" in world.kills_due and (day - 1) % 7 >= 3 and "todo" not in changes:
        changes.append("todo")  # the audit's kill point is reached only by a new finding
    return {"file": files, "edit": edits, "maintainer": changes, "comment": later["comment_chance"]}


def _kill_today(world: World, day: int, plan: dict[str, Any]) -> tuple[list[str], str | None]:
    """The points the first cycle (and each restart) and the night's audit are killed at:
    the opening's, else two of the week's forge writes not yet landed (the audit's when a
    TODO was added), else now and then one of the rest."""
    if (day - 1) % 7 == 0:
        world.kills_due = list(world.data["kills"]["weekly"])
    if "kill" in plan or "kill_audit" in plan:
        return list(plan.get("kill", [])), plan.get("kill_audit")
    audit_points = world.data["kills"]["audit"]
    audit = next(
        (p for p in world.kills_due if p in audit_points and "todo" in plan.get("maintainer", [])),
        None,
    )
    cycle = [p for p in world.kills_due if p not in audit_points][:2]
    if len(cycle) < 2 and world.rng.random() < 0.5:
        cycle.append(world.rng.choice(world.data["kills"]["extra"]))
    return cycle, audit


def at(world: World, day: int, hour: float) -> None:
    """The factory's clock at ``hour`` (UTC) of the month's ``day``."""
    first = datetime.fromtimestamp(world.start, UTC).replace(hour=0, minute=0, second=0)
    moment = first + timedelta(days=day, hours=hour)
    store_clock.DAYS_AHEAD_S = moment.timestamp() - time.time()


class _Settled(Exception):
    """The invariant the soak stops at (``World.stop``) broke: the day ends there."""


def live_day(world: World, day: int) -> Day:
    """One day of the month: the maintainer and the users in the morning, two cycles (one
    killed at a point), the night's health and audit (killed when its point is due), the
    week's lessons; then the invariants and the figures, from the records. With
    ``world.stop``, the day ends after the first factory command its invariant broke in
    (read then, alone: the others are read at the end of a day)."""
    lived = Day(day, world.forge_kind)
    try:
        _live(world, day, lived)
    except _Settled:
        lived.happened.append(f"stopped: {world.stop} broke")
        read_day(world, day, lived)
        assert world.stop is not None
        lived.invariants = {world.stop: lived.invariants[world.stop]}
    else:
        read_day(world, day, lived)
    return lived


def _live(world: World, day: int, lived: Day) -> None:
    sday = day - world.first_day + 1  # the stretch's own day
    clock = world.data["clock"]
    plan = plan_of(world, sday)
    cycle_kills, audit_kill = _kill_today(world, sday, plan)
    at(world, day, clock["cycles"][0] - 1)
    lived.happened += maintainer_answers(world, day)
    for change in plan.get("maintainer", []):
        lived.happened.append(maintainer_change(world, day, change))
    lived.happened += _watched(world, day)
    for entry in plan.get("edit", []):
        lived.happened.append(edit_issue(world, day, entry["author"], entry.get("topic")))
    for entry in plan.get("file", []):
        lived.happened.append(file_issue(world, day, {"author": "owner", **entry}))
    lived.happened += users_comment(world, plan.get("comment", 0.0))
    meanwhile = plan.get("meanwhile", {})
    for index, hour in enumerate(clock["cycles"]):
        if index == 1:  # between the cycles: what the maintainer (or a user) does at midday
            at(world, day, hour - 1)
            for action in plan.get("midday", []):
                lived.happened.append(world_action(world, day, action))
            lived.happened += _watched(world, day)
        at(world, day, hour)
        kills = cycle_kills if index == 0 else plan.get("kill_afternoon", [])
        for number, point in enumerate(kills, 1):
            line, landed = _killed_line(world, point, "run", "--once", "--json")
            _then(world, day, lived, line)
            for action in meanwhile.get(point, []) if landed else []:  # before it starts again
                _then(world, day, lived, world_action(world, day, action))
            at(world, day, hour + number / 4)  # its supervisor starts it again
        _then(world, day, lived, f"factory run: exit {_factory(world, 'run', '--once')[0]}")
    at(world, day, clock["night"] - 1)
    lived.happened += _watched(world, day)
    at(world, day, clock["night"])
    _then(world, day, lived, f"nightly health: exit {_factory(world, 'health')[0]}")
    if audit_kill:
        _then(world, day, lived, _killed_line(world, audit_kill, "audit")[0])
    else:
        _then(world, day, lived, f"nightly audit: exit {_factory(world, 'audit')[0]}")
    if (sday - 1) % 7 + 1 in world.data["lessons_weekdays"]:
        lived.happened.append(f"weekly lessons: exit {_factory(world, 'lessons', 'propose')[0]}")


def _watched(world: World, day: int) -> list[str]:
    """While their test that fails at random stands on production and the factory has named
    it to nobody (no issue of its own titled for it), the maintainer commits a note before
    each cycle and the night: each a tree production's health runs the whole suite on (a tree
    checked once is not checked again within ``health.green_for_h``), so the test is drawn
    three times a day and heal finds it within the days (docs/development.md)."""
    flaky = world.data["maintainer"]["flaky"]["file"]
    if flaky not in world.side.production_files():
        return []
    own = [i.title for i in world.side.issues("all") if world.side.is_own(i.author)]
    if any(t.startswith("Flaky check") and Path(flaky).stem in t for t in own):
        return []
    return [maintainer_change(world, day, "notes") + " (their clock test stands, unnamed)"]


def _then(world: World, day: int, lived: Day, line: str) -> None:
    """``line`` happened; with ``world.stop``, the day ends if that invariant broke by now."""
    lived.happened.append(line)
    if world.stop and invariants(world, read_records(world), day, world.stop)[world.stop]:
        raise _Settled


def _killed_line(world: World, point: str, *command: str) -> tuple[str, bool]:
    """The command killed at ``point``: what happened, and whether the kill landed."""
    code = killed(world, point, *command)
    if code == -9 and point in world.kills_due:
        world.kills_due.remove(point)
    landed = "killed" if code == -9 else f"not reached (exit {code})"
    return f"factory {command[0]}, kill -9 at {point}: {landed}", code == -9


def world_action(world: World, day: int, action: str | dict[str, Any]) -> str:
    """What the world does while the factory is down after a kill (``meanwhile``) or between
    the day's cycles (``midday``): one of the maintainer's changes, ``stop`` (the factory
    stopped, its supervisor starting it again to no effect, then resumed), ``cancel`` an
    author's issue, add a hold-out ``journey`` once an author's change is on production (its
    merge killed before its smoke check: the check, taken up again, sees it); or a user
    ``file``s an issue."""
    watch, now = world.watch, store_clock.factory_now()
    if action == "stop":
        _factory(world, "stop", "--reason", "the maintainer looks at something")
        watch.stopped = state_of(world, world.side.issues("all"))
        code, _ = _factory(world, "run", "--once")
        _factory(world, "resume")
        watch.stopped, watch.stops = None, watch.stops + 1
        return f"the maintainer stops the factory (a cycle meanwhile: exit {code}), resumes it"
    if isinstance(action, str):
        return maintainer_change(world, day, action)
    if "file" in action:
        return file_issue(world, day, {"author": "owner", **action["file"]})
    if "cancel" in action:
        mine = [i for i in world.issued.values() if i.written.author == action["cancel"]]
        queued = {
            i.number
            for i in world.side.issues("open")
            if {Label.ACCEPTED, Label.IN_PROGRESS} & set(i.labels)
        }
        if not mine or mine[-1].number not in queued:
            return f"the maintainer meant to cancel {action['cancel']}'s issue: not in the queue"
        number = mine[-1].number
        watch.acted[number] = watch.cancelled[number] = now
        code, _ = _factory(world, "cancel", str(number), "--reason", "Not wanted after all.")
        return f"the maintainer cancels #{number}: exit {code}"
    spec = world.data["maintainer"][action["journey"]]
    mine = [i for i in world.issued.values() if i.written.author == action["after"]]
    promise = promise_of(world, mine[-1]) if mine else None
    path = world.holdout / "journeys" / spec["file"]
    if promise is None or path.exists():
        return f"the maintainer's {action['journey']} journey: nothing to add"
    key = f"page:{promise[0]}:{promise[1]}"
    if eyes(world).answers(world.side.production(), {key: ("page", *promise)})[key]:
        return f"the maintainer's {action['journey']}: {action['after']}'s change not landed"
    path.write_text(spec["text"])
    world.journeys[spec["file"]] = store_clock.factory_now()
    return f"the maintainer adds {action['journey']} while a merge awaits its smoke check"


# ---- the whole soak ----------------------------------------------------------------------


@contextlib.contextmanager
def _factory_env(world: World) -> Iterator[None]:
    """The world's state (and forge) for every factory command, and the factory's clock put
    back after."""
    saved = {k: os.environ.get(k) for k in ("FACTORY_STATE_DIR", *world.side.env())}
    os.environ["FACTORY_STATE_DIR"] = str(world.state)
    os.environ.update(world.side.env())
    try:
        yield
    finally:
        store_clock.DAYS_AHEAD_S = 0.0
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def stretches(days: int, github: int | None) -> list[tuple[str, int, int]]:
    """The month's stretches: (forge, first day, last day); the GitHub stand-in's last
    (``github`` days; by default a third of the month from nine days on)."""
    on_github = (days // 3 if days >= 9 else 0) if github is None else min(github, days)
    local = days - on_github
    found = [("local", 1, local)] if local else []
    return found + ([("github", local + 1, days)] if on_github else [])


def soak(
    root: Path,
    days: int,
    seed: int = SEED,
    say: Any = print,
    rules: dict[str, Any] | None = None,
    github: int | None = None,
    stop: str | None = None,
    only: tuple[str, ...] = (),
    without: tuple[str, ...] = (),
) -> list[tuple[World, list[Day]]]:
    """``days`` simulated days in ``root``: each stretch's world and its days as lived
    (``rules``: front matter of factory_rules.md over the world's; ``stop``: an invariant of
    ``SETTLED`` whose first break ends the soak as soon as it is read; ``only``: the users of
    the opening whose issues are filed, every one's when empty; ``without``: the maintainer's
    changes of the opening left out, by name)."""
    named = yaml.safe_load(WORLD.read_text())["maintainer"]
    if strangers := [change for change in without if change not in named]:
        raise ValueError(f"soak: the maintainer has no change {strangers[0]!r}")
    lived: list[tuple[World, list[Day]]] = []
    for kind, first, last in stretches(days, github):
        where = root / kind
        where.mkdir(parents=True, exist_ok=True)
        world = make_world(where, seed, rules, github=kind == "github")
        world.first_day, world.start = first, time.time() - (first - 1) * 86_400
        world.stop, world.only, world.without = stop, only, without
        lived.append((world, []))
        try:
            with _factory_env(world):
                for day in range(first, last + 1):
                    lived[-1][1].append(live_day(world, day))
                    say(day_line(lived[-1][1][-1]))
                    if stop and lived[-1][1][-1].invariants[stop]:
                        return lived
        finally:
            world.forks.close()
            world.side.close_side()
            if world.watch.eyes is not None:
                world.watch.eyes.close()
    return lived


def opening_users() -> set[str]:
    """The users who file issues in the opening (``--only`` keeps some of them)."""
    opening = yaml.safe_load(WORLD.read_text())["opening"].values()
    midday = [a["file"] for day in opening for a in day.get("midday", []) if "file" in a]
    return {e["author"] for day in opening for e in [*day.get("file", []), *midday]}


def _options(argv: list[str]) -> dict[str, Any]:
    """``--days N --seed S --github D --mutants [NAME …] --stop INVARIANT --only USER …
    --json``; bad input: one line, exit 2."""
    known = {"--days": 30, "--seed": SEED, "--github": None}
    found: dict[str, Any] = dict(known)
    found["mutants"], found["json"], found["stop"], rest = None, False, None, list(argv)
    found["only"] = []
    while rest:
        arg = rest.pop(0)
        if arg == "--stop":
            if not rest or rest[0] not in SETTLED:
                raise SystemExit(f"soak: --stop takes one of {', '.join(SETTLED)}")
            found["stop"] = rest.pop(0)
        elif arg in known:
            if not rest or not rest[0].isdigit():
                raise SystemExit(f"soak: {arg} takes a whole number")
            found[arg] = int(rest.pop(0))
        elif arg in ("--mutants", "--only"):
            named = found[arg[2:]] = []
            while rest and not rest[0].startswith("--"):
                named.append(rest.pop(0))
        elif arg == "--json":
            found["json"] = True
        else:
            raise SystemExit(
                f"soak: unknown argument {arg!r} "
                "(--days, --seed, --github, --mutants, --stop, --only, --json)"
            )
    if found["--days"] < 1:
        raise SystemExit("soak: --days must be at least 1")
    users = opening_users()
    if strangers := [name for name in found["only"] if name not in users]:
        raise SystemExit(f"soak: --only takes users of the opening, not {strangers[0]!r}")
    if "--only" in argv and not found["only"]:
        raise SystemExit(f"soak: --only takes users of the opening: {', '.join(sorted(users))}")
    return found


def main(argv: list[str]) -> int:
    """``python -m benchmarks soak``: printed, not written to results.md; exit 1 when an
    invariant broke on any day or a capability the days could fire never did. ``SOAK_DIR``
    keeps the factory's files there."""
    try:
        options = _options(argv)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    if options["mutants"] is not None:
        from benchmarks.soak_mutants import main as mutants_main

        return mutants_main(options["mutants"], options["--seed"])
    kept = os.environ.get("SOAK_DIR")
    where = Path(kept) if kept else Path(tempfile.mkdtemp(prefix="soak-"))
    say = (lambda _: None) if options["json"] else print
    try:
        lived = soak(
            where,
            options["--days"],
            options["--seed"],
            say,
            github=options["--github"],
            stop=options["stop"],
            only=tuple(options["only"]),
        )
        result = verdict(lived, options["--days"], options["--seed"])
    finally:
        if not kept:
            shutil.rmtree(where, ignore_errors=True)
    if options["json"]:
        print(json.dumps(result.to_json(), indent=1))
    else:
        print(result.text())
    return 0 if result.held else 1


def soak_section(days: int = 30, seed: int = SEED) -> str:
    """The soak as ``benchmarks/results.md`` shows it: one row per day of one run, then the
    mutation table (``--mutants``: every fault, on a scratch copy)."""
    from benchmarks.soak_mutants import run, table

    began = time.monotonic()
    where = Path(tempfile.mkdtemp(prefix="soak-"))
    try:
        result = verdict(soak(where, days, seed, say=lambda _: None), days, seed)
    finally:
        shutil.rmtree(where, ignore_errors=True)
    soaked = time.monotonic() - began
    held = sum(not d.broken for _, stretch in result.lived for d in stretch)
    missing = [f"{forge}: {', '.join(m)}" for forge, m in result.missing.items() if m]
    fired = (
        f"Never fired: {'; '.join(missing)}."
        if missing
        else ("Every capability fired, on the local forge and on the GitHub stand-in.")
    )
    began = time.monotonic()
    base, outcomes = run(None, seed, say=lambda _: None)
    mutated = time.monotonic() - began
    return (
        f"## {days} days unattended (`python -m benchmarks soak --days {days} --seed {seed}`)"
        f"\n\nOne factory on the soak's notes app (`benchmarks/soak_world.yaml`), the scripted "
        f"model priced as the models it names, the last days on the GitHub stand-in through "
        f"PyGithub; {soaked:.0f} s in all; the invariants of each day read what the world saw "
        f"with its own eyes (and, for the factory's bookkeeping, its records), the figures its "
        f"records. Every invariant held on {held} of {days} days. "
        f"{fired}\n\n" + "\n".join(result.rows()) + "\n\n"
        f"## The soak proves itself (`python -m benchmarks soak --mutants`)\n\n"
        f"Each fault put into a scratch copy of the harness, one at a time, and the shortest "
        f"soak that shows it run on the copy ({mutated:.0f} s in all).\n\n"
        + table(base, outcomes, seed)
        + "\n"
    )
