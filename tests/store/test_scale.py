"""The store at scale: counts are the store's at any size, the Autonomy Index and earned trust
kept by the database equal their first (slow, obviously right) definition, and what status,
history and the dashboard read does not grow with the number of runs. No timing here: the
figures are measured in ``benchmarks/store_rows.py``."""

from __future__ import annotations

import json
import math
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from benchmarks.store_rows import Source, copy_rows
from harness.cli.common import plain
from harness.config.governance import parse_rules
from harness.config.models import Rules
from harness.engine.context import Services
from harness.model.base import CallRecord, Usage
from harness.reports import issues
from harness.reports import runs as run_list
from harness.reports import status as state_of
from harness.review.autonomy import autonomy_index_for
from harness.review.trust import APPROVE_EVENT, trust_states_for
from harness.serve.app import now_status
from harness.services import open_services
from harness.store import base, migrations
from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.store import definitions
from tests.store.definitions import ORCHESTRATES

DAY = 86_400.0

# the demo copied here is the one tests/test_demo.py and the dashboard's tests read: one cycle
# on the worker serves them all
pytestmark = pytest.mark.together("demo-cycle")


def _big(source: Source, state: Path, runs: int, spread_days: float = 29) -> Store:
    """A store of at least ``runs`` runs: the demo's rows copied, spread over the days."""
    demo = Store.open(source.state_dir)
    per_copy = sum(demo.run_counts().values())
    demo.close()
    store = Store.open(state)
    copy_rows(source.state_dir / "state.db", store, math.ceil(runs / per_copy), spread_days * DAY)
    return store


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts).timestamp()


def _runs_only(source: Source, folder: Path) -> Path:
    """A copy of the demo's state with its runs that do work alone: no steps, events, model
    calls, issues or comments."""
    folder.mkdir()
    with closing(sqlite3.connect(source.state_dir / "state.db")) as db:
        with closing(sqlite3.connect(folder / "state.db")) as copy:
            db.backup(copy)
            # the runs that do work: the others are told by their steps, which go
            copy.execute(f"DELETE FROM runs WHERE {ORCHESTRATES}")
            for table in ("steps", "events", "model_calls", "issues", "issue_labels", "comments"):
                copy.execute(f"DELETE FROM {table}")
            copy.commit()
    return folder / "state.db"


FULL_COPIES = 20  # of the demo's every row; its runs alone make up the rest


@pytest.mark.slow
def test_status_counts_every_run_past_ten_thousand(
    demo_rows: Source, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over ten thousand runs: the demo's rows copied twenty times over the month (the oldest
    runs, each copy with its steps, events, model calls and issues), then its runs alone,
    copied at the demo's own times (what is counted: a run is a row of ``runs``, whatever
    else it wrote), until there are more than ten thousand."""
    demo = Store.open(demo_rows.state_dir)
    per_copy = sum(demo.run_counts().values())
    one = definitions.autonomy(demo, 30)
    demo.close()
    state = tmp_path / "big"
    store = Store.open(state)
    copy_rows(demo_rows.state_dir / "state.db", store, FULL_COPIES, 29 * DAY)
    bulk = math.ceil((10_001 - FULL_COPIES * per_copy) / per_copy)
    copy_rows(_runs_only(demo_rows, tmp_path / "runs-only"), store, bulk)
    for status in ("failed", "stopped"):  # a few runs that did not succeed, one still running
        store.set_run_status(store.create_run("triage", None, {}, {}).id, status)
    running = store.create_run("implement", 1, {}, {})
    truth = dict(  # the runs that do work: a cycle's own runs are listed by their name
        store._rows(f"SELECT status, COUNT(*) FROM runs WHERE NOT {ORCHESTRATES} GROUP BY status")
    )
    assert sum(truth.values()) > 10_000

    monkeypatch.setenv("FACTORY_STATE_DIR", str(state))
    res = run_cli(capsys, "--repo", str(demo_rows.repo), "status", "--json")
    assert res.code == 0, res.err
    status = res.json()
    assert status["runs"] == truth
    assert [r["id"] for r in status["running"]] == [running.id]
    text = run_cli(capsys, "--repo", str(demo_rows.repo), "status").out
    assert f"runs: {sum(truth.values())}; the newest, by outcome: " in text  # every run

    newest = run_cli(capsys, "--repo", str(demo_rows.repo), "runs", "--limit", "3", "--json")
    expected = store._rows("SELECT id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 3")
    assert [r["id"] for r in newest.json()] == [r[0] for r in expected]
    # the index over the last 30 days, kept by the database, equals its definition here too:
    # each full copy of the demo is in the window with issues of its own (the runs alone
    # finish no issue), and they are the oldest runs, the first a count of only the newest ten
    # thousand would drop; so the definition over the store is the definition over the demo's
    # rows, times the copies (the definition itself, on the very rows the index reads, is held
    # at 240 runs below)
    assert one["finished"] > one["autonomous"] > 0, one
    assert status["autonomy_index"] == _times(one, FULL_COPIES)


def _times(index: dict, copies: int) -> dict:
    """An ``AutonomyIndex.to_json()`` of ``copies`` disjoint copies of the issues ``index``
    counted."""
    counts = {key: index[key] * copies for key in ("finished", "autonomous")}
    kinds = {
        kind: {
            **row,
            "finished": row["finished"] * copies,
            "autonomous": row["autonomous"] * copies,
        }
        for kind, row in index["by_kind"].items()
    }
    return {**index, **counts, "by_kind": kinds}


def _approve_before_smoke(store: Store, every: int) -> int:
    """Approvals of every ``every``-th merged change, recorded (as ``factory approve`` does)
    before its smoke run passed; returns how many."""
    rows = store._rows(
        "SELECT r.issue, json_extract(p.outputs, '$.head'), sm.started_at FROM runs r"
        " JOIN steps p ON p.run_id = r.id AND p.step_id = 'prepare'"
        " JOIN steps sm ON sm.run_id = r.id AND sm.step_id = 'smoke' AND sm.status = 'succeeded'"
        " WHERE r.workflow = 'validate' ORDER BY r.issue"
    )[::every]
    with store.transaction() as db:
        for issue, head, ts in rows:
            db.execute(
                "INSERT INTO events (run_id, ts, kind, data, prev_hash, hash)"
                " VALUES (NULL, ?, ?, json_object('issue', ?, 'head', ?, 'actor', 'ann'), '', '')",
                (ts, APPROVE_EVENT, issue, head),
            )
    return len(rows)


def _regress(store: Store) -> None:
    """The oldest quarter of the passing smoke runs revert their merge after all."""
    with store.transaction() as db:
        db.execute(
            "UPDATE steps SET outputs = json_set(outputs, '$.reverted', 'f00d') WHERE seq IN"
            " (SELECT seq FROM steps WHERE step_id = 'smoke' AND status = 'succeeded'"
            " ORDER BY seq LIMIT (SELECT COUNT(*) / 4 FROM steps WHERE step_id = 'smoke'))"
        )


TRUST = [
    "trust: {default: {start: review, earn_after: 3}}",
    "trust: {kind:bug: {start: review, earn_after: 2, reset_on: [regression]},"
    " kind:feature: {earn_after: 1, reset_on: [revert]}, default: {start: auto}}",
    "trust: {kind:chore: {earn_after: 5}}",
]


@pytest.mark.slow
def test_autonomy_and_trust_agree_with_their_definition(demo_rows: Source, tmp_path: Path) -> None:
    # 20 copies over 60 days: windows that hold some of them, none, or all
    store = _big(demo_rows, tmp_path / "state", 240, spread_days=60)
    assert _approve_before_smoke(store, every=3) > 0
    _regress(store)
    store.append_event(None, "human.label", {"issue": 2, "actor": "ann", "labels": ["x"]})
    merged = store._rows(  # a feature's merge, that heal reverted
        "SELECT json_extract(m.outputs, '$.merge_sha') FROM steps m"
        " JOIN steps p ON p.run_id = m.run_id AND p.step_id = 'prepare'"
        " WHERE m.step_id = 'merge' AND m.status = 'succeeded'"
        " AND json_extract(p.outputs, '$.candidate.spec.kind') = 'feature' LIMIT 1"
    )[0][0]
    definitions.heal_reverted(store, merged)

    end = _epoch(store._rows("SELECT MAX(finished_at) FROM runs")[0][0])
    windows = [(30, 0), (30, -20), (7, -40), (90, 0), (1, 400)]  # (days, end moved by days)
    for days, moved in windows:
        fast = autonomy_index_for(store, days, end + moved * DAY).model_dump()
        assert fast == definitions.autonomy(store, days, end + moved * DAY), (days, moved)
    month, quarter = (autonomy_index_for(store, d, end) for d in (30, 90))
    assert quarter.finished > month.finished > month.autonomous > 0

    for front in TRUST:
        rules = parse_rules(f"---\n{front}\n---\n# rules\n")
        fast = [_json(t) for t in trust_states_for(store, rules, False)]
        assert fast == definitions.trust(store, rules), front
    states = trust_states_for(store, parse_rules("---\ntrust: {default: {}}\n---\n"), False)
    assert any(t.earned for t in states) and any(t.reset_at for t in states)

    # the Trends page counts in SQL what it counted walking every step, costs included
    for i, (run_id,) in enumerate(store._rows("SELECT id FROM runs ORDER BY rowid")[::7]):
        store.record_call(
            run_id, "plan", CallRecord("m", Usage(10, 5), 0.01 * (i % 5 + 1), 1, "0" * 64)
        )
    services = open_services(demo_rows.repo, tmp_path / "state")
    for moved in (0, -25):
        services.clock = lambda moved=moved: end + moved * DAY
        shown = asdict(state_of.trends(services))
        today = datetime.fromtimestamp(end + moved * DAY, UTC).date()
        assert shown == definitions.trends(store, today), moved
        assert sum(shown["merges"]) and sum(shown["cost_per_merge"]) and shown["refusals"]
        assert len({a for a in shown["autonomy"] if a is not None}) > 1  # windows that differ
        assert shown["models"]  # (copied rows keep the ids of the runs they were copied from)

    # the queue's newest run and decision of every issue, kept as runs and steps are written
    store.create_run("triage", 3, {}, {})  # a newer run of issue 3, with no step yet
    numbers = [n for (n,) in store._rows("SELECT number FROM issues")] + [10_000]
    kept = store.latest_said(numbers)
    for number in numbers:
        expected = definitions.said(store, number)
        assert kept.get(number) == ({"issue": number, **expected} if expected else None)
    assert kept[3]["workflow"] == "triage" and kept[3]["status"] == "running"


@contextmanager
def counting(store: Store) -> Iterator[dict[str, int]]:
    """How many SQL statements the store runs, and how many rows its reads return, inside."""
    seen = {"statements": 0, "rows": 0}
    conn = store._conn()
    conn.set_trace_callback(lambda _: seen.__setitem__("statements", seen["statements"] + 1))
    read = store._rows

    def rows(sql: str, args: Any = ()) -> list[sqlite3.Row]:
        found = read(sql, args)
        seen["rows"] += len(found)
        return found

    store._rows = rows  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        conn.set_trace_callback(None)
        del store._rows


def _json(record: object) -> object:
    return json.loads(json.dumps(record, default=plain))


def _status_and_history(store: Store, rules: Rules) -> None:
    """What ``factory status`` and ``factory runs`` read."""
    store.run_counts()
    run_list.run_lines(store, store.list_runs(limit=None, status="running"), 0.0)
    store.spend(since="2000-01-01")
    store.spend()
    autonomy_index_for(store, 30, time.time())
    trust_states_for(store, rules, False)
    store.tier_success()
    run_list.run_lines(store, store.list_runs(limit=50), 0.0)


def _pages(services: Services) -> None:
    """What the dashboard's Now, Runs (a later page), Trends, an issue's page and the Queue
    read."""
    now_status(services)
    run_list.runs_page(services.store, run_list.RunFilters(None, None, None, None, 2), 0.0)
    state_of.trends(services)
    issues.issue_page(services, 1)
    issues.queue_view(services, None, 1)


def test_what_status_history_and_the_pages_read_does_not_grow_with_the_runs(
    demo_rows: Source, tmp_path: Path
) -> None:
    rules = parse_rules("---\ntrust: {default: {start: review}}\n---\n")
    seen = []
    for runs in (150, 450):
        store = _big(demo_rows, tmp_path / str(runs), runs)
        services = open_services(demo_rows.repo, tmp_path / str(runs))
        with counting(store) as status:
            _status_and_history(store, rules)
        with counting(services.store) as pages:
            _pages(services)
        seen.append((runs, status, pages))
    (_, small, small_pages), (_, large, large_pages) = seen
    assert small == large  # statements and rows: the same at three times the runs
    assert small_pages["statements"] == large_pages["statements"]
    assert small["statements"] < 20 and small_pages["statements"] < 100


def _old_store(
    source: Source, state: Path, copies: int, monkeypatch: pytest.MonkeyPatch, before: str = "m006"
) -> list[str]:
    """A store as the harness made it before the outcome tables (every migration before
    ``before``) holding ``copies`` copies of the demo's rows; returns the migrations' names."""
    old = [m for m in migrations.MIGRATIONS if m[0] < before]
    with monkeypatch.context() as mp:
        mp.setattr(migrations, "MIGRATIONS", old)
        store = Store.open(state)
        copy_rows(source.state_dir / "state.db", store, copies, copies * DAY)
        store.close()
    return [name for name, _ in old]


def _agrees(store: Store) -> None:
    now = time.time()
    assert autonomy_index_for(store, 30, now).model_dump() == definitions.autonomy(store, 30, now)
    rules = parse_rules(f"---\n{TRUST[1]}\n---\n")
    fast = [_json(t) for t in trust_states_for(store, rules, False)]
    assert fast == definitions.trust(store, rules)


def test_an_old_store_migrates_with_its_history(
    demo_rows: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _old_store(demo_rows, tmp_path, 5, monkeypatch)
    store = Store.open(tmp_path)
    names = [r[0] for r in store._rows("SELECT name FROM migrations ORDER BY name")]
    assert names == [name for name, _ in migrations.MIGRATIONS]
    assert store._rows("SELECT COUNT(*) FROM issue_outcomes WHERE finished_at IS NOT NULL")[0][0]
    _agrees(store)


def test_an_old_store_shows_the_same_trends_and_queue_after_migrating(
    demo_rows: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store made before the trends and the queue's states were kept (``m011``), with model
    calls and a merge its smoke run reverted: after migrating, the Trends page, the tiers of
    ``factory status`` and the Queue show what they showed before (the Trends page's first
    definition, and the queue grouped from the labels, on the same rows)."""
    _old_store(demo_rows, tmp_path, 6, monkeypatch, before="m011")
    # the factory's clock at noon of the day the test runs: both readings count the same days,
    # even when the test runs across midnight
    noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    monkeypatch.setattr(base, "DAYS_AHEAD_S", noon.timestamp() - time.time())
    states = (None, "factory:merged", "closed")
    with monkeypatch.context() as mp:
        old = [m for m in migrations.MIGRATIONS if m[0] < "m011"]
        mp.setattr(migrations, "MIGRATIONS", old)
        store = Store.open(tmp_path)
        for i, (run_id,) in enumerate(store._rows("SELECT id FROM runs ORDER BY rowid")[::5]):
            call = CallRecord("m", Usage(10, 5), 0.01 * (i % 4 + 1), 1, "0" * 64)
            store.record_call(run_id, "plan", call)
        _regress(store)
        services = open_services(demo_rows.repo, tmp_path)
        mp.setattr(services.forge, "kind", "before")  # the queue grouped from every issue
        queue = [issues.queue_view(services, state, 1) for state in states]
        today = datetime.fromtimestamp(services.clock(), UTC).date()
        before = definitions.trends(store, today), definitions.tiers(store, ""), queue
        store.close()
    services = open_services(demo_rows.repo, tmp_path)
    queue = [issues.queue_view(services, state, 1) for state in states]
    trend = state_of.trends(services)
    after = asdict(trend), services.store.tier_success(), queue
    assert after == before
    assert sum(before[0]["merges"]) and sum(before[0]["cost_per_merge"]) and before[1]
    assert before[0]["refusals"]["reverted on production"]
    assert {g.label for g in queue[0] if g.count} >= {"factory:merged", "factory:rejected"}


KILLED = """
import os, signal, sys
from pathlib import Path
from harness.store import db, migrations

def killed(conn):
    step(conn)  # the whole migration runs, then the process dies before it commits
    os.kill(os.getpid(), signal.SIGKILL)

step = dict(migrations.MIGRATIONS)["m006_indexes_and_outcomes"]
migrations.MIGRATIONS = tuple(
    (name, killed if name == "m006_indexes_and_outcomes" else fn)
    for name, fn in migrations.MIGRATIONS
)
db.Store.open(Path(sys.argv[1]))
"""


def test_a_store_killed_mid_migration_recovers(
    demo_rows: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _old_store(demo_rows, tmp_path, 3, monkeypatch)
    killed = subprocess.run([sys.executable, "-c", KILLED, str(tmp_path)], check=False)
    assert killed.returncode == -signal.SIGKILL
    with closing(sqlite3.connect(f"file:{tmp_path / 'state.db'}?mode=ro", uri=True)) as raw:
        assert [r[0] for r in raw.execute("SELECT name FROM migrations ORDER BY name")] == old
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
        assert "runs_status" not in tables and "events_issue" not in tables  # rolled back
    store = Store.open(tmp_path)  # the next run applies it whole
    assert "m006_indexes_and_outcomes" in {r[0] for r in store._rows("SELECT name FROM migrations")}
    _agrees(store)


def test_the_runs_page_is_paged_and_filtered_by_index(demo_rows: Source, tmp_path: Path) -> None:
    store = _big(demo_rows, tmp_path, 250)
    newest_first = [
        r[0]
        for r in store._rows(
            f"SELECT id FROM runs WHERE NOT {ORCHESTRATES} ORDER BY started_at DESC, rowid DESC"
        )
    ]
    pages = [
        run_list.runs_page(store, run_list.RunFilters(None, None, None, None, n), 0.0)
        for n in (1, 2, 3, 4)
    ]
    assert [len(p) for p in pages] == [100, 100, len(newest_first) - 200, 0]
    assert [line.id for page in pages for line in page] == newest_first
    triage = run_list.runs_page(
        store, run_list.RunFilters("triage", "succeeded", None, None, 1), 0.0
    )
    assert triage and {(r.workflow, r.status) for r in triage} == {("triage", "succeeded")}
    day = store.get_run(newest_first[-1]).started_at[:10]  # the oldest copy's day
    that_day = run_list.runs_page(store, run_list.RunFilters(None, None, None, day, 1), 0.0)
    assert that_day and {r.started_at[:10] for r in that_day} == {day}


def test_what_the_queue_shows_is_kept_by_the_steps_that_can_change_it(tmp_path: Path) -> None:
    """``issue_latest`` is recomputed only by a step write whose outputs name ``route``,
    ``decision`` or ``reason`` (before or after the write): every other write leaves it
    as the definition computes it anyway, with or without those keys."""
    store = Store.open(tmp_path)
    run = store.create_run("triage", 7, {}, {})

    def agrees() -> dict[str, Any] | None:
        expected = definitions.said(store, 7)
        assert store.latest_said([7]).get(7) == {"issue": 7, **(expected or {})}
        return expected

    said = store.start_step(run.id, "judge", {"kind": "agent"})
    store.finish_step(said, "succeeded", {"decision": "accept", "reason": "in scope"})
    assert (agrees() or {})["decision"] == "accept"
    quiet = store.start_step(run.id, "apply", {"kind": "action"})
    store.finish_step(quiet, "succeeded", {"labels": ["factory:accepted"]})  # names none
    assert (agrees() or {})["reason"] == "in scope"
    store._write("UPDATE steps SET outputs = '{}' WHERE seq = ?", (said,))  # they were named
    assert (agrees() or {}).get("decision") is None
    store._write("UPDATE steps SET outputs = ? WHERE seq = ?", ('{"route": "fast"}', quiet))
    assert (agrees() or {})["route"] == "fast"
