"""The store: migrations, WAL, concurrent writers, leases with fencing, the event chain, spend."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from harness.errors import LeaseError, NotFoundError
from harness.model.base import CallRecord, Usage
from harness.store import migrations
from harness.store.db import Store
from harness.store.records import StepEvent
from tests.store_reads import verify_chain


def test_migrations_apply_once_and_wal_is_on(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    assert store._rows("PRAGMA journal_mode")[0][0] == "wal"
    names = [r[0] for r in store._rows("SELECT name FROM migrations ORDER BY name")]
    assert names == [name for name, _ in migrations.MIGRATIONS]
    store.close()
    again = Store.open(tmp_path)._conn()
    migrations.migrate(again, set())  # none known to the caller: each found applied, none runs
    assert [r[0] for r in again.execute("SELECT name FROM migrations ORDER BY name")] == names


def test_a_new_store_is_the_migrations_schema_and_never_replaces_one(tmp_path: Path) -> None:
    """A new store is a copy of one migrated once per process: the schema the migrations make
    in place, to the statement; a store another process made first is left as it is."""

    def schema(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
        return [
            tuple(r)
            for r in conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name")
        ]

    in_place = sqlite3.connect(tmp_path / "in_place.db", isolation_level=None)
    migrations.migrate(in_place, set())
    store = Store.open(tmp_path / "new")
    assert schema(store._conn()) == schema(in_place)
    store.create_run("implement", 1, {}, {})
    store.close()
    migrations.fresh(tmp_path / "new" / "state.db")  # made already: kept
    assert len(Store.open(tmp_path / "new").list_runs(limit=None)) == 1
    assert [p.name for p in (tmp_path / "new").iterdir() if p.suffix == ".new"] == []


def test_a_current_store_opens_while_another_connection_writes(tmp_path: Path) -> None:
    """Runs that open the store at once take no write lock when nothing is left to migrate:
    opening waits for no writer (it used to, up to SQLite's busy timeout)."""
    Store.open(tmp_path).close()
    writer = sqlite3.connect(tmp_path / "state.db", isolation_level=None, timeout=0)
    writer.execute("BEGIN IMMEDIATE")
    try:
        store = Store.open(tmp_path)
        store._writing = store._connect()  # the connection a write takes
        store._writing.execute("PRAGMA busy_timeout=0")  # a write now fails at once, not later
        assert store._rows("SELECT COUNT(*) FROM migrations")[0][0] == len(migrations.MIGRATIONS)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            with store.transaction():
                pass  # the writer really holds the lock
        store.close()
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_new_migration_is_applied_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Store.open(tmp_path).close()

    def m999_extra(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE extra (x INTEGER)")

    monkeypatch.setattr(
        migrations, "MIGRATIONS", [*migrations.MIGRATIONS, ("m999_extra", m999_extra)]
    )
    store = Store.open(tmp_path)
    assert store._rows("SELECT COUNT(*) FROM extra")[0][0] == 0
    migrations.migrate(store._conn(), set())  # run again, its CREATE TABLE would raise


def test_records_written_before_they_had_a_type_are_typed_by_what_made_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.artifacts import GateReport, Tested
    from harness.engine.records import RunRecords

    old = tuple(m for m in migrations.MIGRATIONS if m[0] < "m008")
    with monkeypatch.context() as mp:
        mp.setattr(migrations, "MIGRATIONS", old)
        store = Store.open(tmp_path)
        run = store.create_run("implement", 3, {}, {})
        tested = {"command": "pytest", "exit_code": 1, "output": "1 failed", "tree": "t"}
        for action, status, outputs in (
            ("implement.test", "failed", {**tested, "limit_hit": None, "duration_s": 1.5}),
            ("implement.gates", "succeeded", {"gates": [], "passed": True, "fix_attempts": 1}),
            ("implement.commit", "failed", {"head": None}),  # not a Commit: left untyped
        ):
            seq = store.start_step(
                run.id, action.split(".")[1], {"kind": "action", "action": action}
            )
            store.finish_step(seq, status, outputs)
        store.close()
    store = Store.open(tmp_path)  # m008 types them
    kinds = [s.artifact for s in store.steps(run.id)]
    assert kinds == ["Tested", "GateReport", None]
    records = RunRecords(store.steps(run.id))
    assert records.newest(Tested) == Tested(**tested, duration_s=1.5)
    assert records.newest(GateReport) == GateReport(gates=[], passed=True, fix_attempts=1)


def _writer(state: str, n: int) -> None:
    store = Store.open(Path(state))
    for i in range(n):
        store.insert_issue(f"issue {i}", "body", "writer")


def test_the_threads_write_in_turn_on_one_connection_and_read_what_they_wrote(
    tmp_path: Path,
) -> None:
    """Every thread's write takes the store's one writing connection (its statements, and the
    triggers compiled into them, prepared once), but never another thread's transaction: one
    that waits while another's is open is not rolled back with it. Inside its own, a thread
    reads what it wrote before the commit, and a transaction inside it joins it."""
    store = Store.open(tmp_path)
    inside, used = threading.Event(), []

    def second() -> None:
        inside.wait()
        with store.transaction() as db:  # waits for the first's rollback
            used.append(db)
            store.insert_issue("kept", "", "ann")  # a transaction of its own: joins this one

    waiting = threading.Thread(target=second, daemon=True)
    waiting.start()
    with pytest.raises(RuntimeError), store.transaction() as db:
        used.append(db)
        db.execute(
            "INSERT INTO issues (title, body, author, state, created_at, updated_at)"
            " VALUES ('rolled back', '', 'ann', 'open', '', '')"
        )
        assert [i.title for i in store.issues("all")] == ["rolled back"]  # not committed yet
        inside.set()
        waiting.join(0.5)  # the second has had its chance to join this transaction
        raise RuntimeError
    waiting.join(60)
    assert used[0] is used[1]
    assert len(store._all) == 2  # this thread's and the writing one: the second only wrote
    assert [i.title for i in store.issues("all")] == ["kept"]
    store.close()


def test_two_processes_writing_lose_nothing(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), 50)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(Store.open(tmp_path).issues("all")) == 100


def test_leases_are_atomic_and_fenced(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    now = [1000.0]
    store.clock = lambda: now[0]
    fence = store.acquire_lease(7, "run-a", ttl_s=60)
    with pytest.raises(LeaseError, match="run-a"):
        store.acquire_lease(7, "run-b", ttl_s=60)
    assert store.acquire_lease(7, "run-a", ttl_s=60) == fence  # renewal by the holder
    now[0] += 120  # run-a paused past its lease
    taken = store.acquire_lease(7, "run-b", ttl_s=60)
    assert taken == fence + 1
    with pytest.raises(LeaseError):
        store.check_lease(7, "run-a", fence)  # the old holder's writes are refused
    store.check_lease(7, "run-b", taken)
    store.release_lease(7, "run-b")
    assert store.acquire_lease(7, "run-c", ttl_s=60) == 1


def test_event_chain_detects_tampering(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    for i in range(5):
        store.append_event("r-1", "step", {"i": i})
    assert verify_chain(store)
    with store.transaction() as db:
        db.execute("UPDATE events SET data = ? WHERE id = 3", ('{"i": 99}',))
    assert not verify_chain(store)


def test_doctor_says_which_event_of_the_audit_trail_was_edited(tmp_path: Path) -> None:
    """``factory doctor``'s state line reads the hash chain: an event altered, or one taken
    out, is named by the first event that no longer follows from the one before it."""
    from harness.store.base import DB_NAME
    from harness.store.health import state_health

    store = Store.open(tmp_path)
    for i in range(5):
        store.append_event("r-1", "step", {"i": i})
    store.close()
    assert state_health(tmp_path).ok
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("UPDATE events SET data = ? WHERE id = 3", ('{"i": 99}',))
    edited = state_health(tmp_path)
    assert not edited.ok and "the audit trail was edited: event 3 " in edited.detail
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("DELETE FROM events WHERE id IN (2, 3)")
    assert "the audit trail was edited: event 4 " in state_health(tmp_path).detail


def test_spend_by_run_issue_and_day(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    a = store.create_run("triage", 1, {}, {})
    b = store.create_run("triage", 2, {}, {})
    rec = CallRecord("claude-haiku-4-5", Usage(10, 5, 0, 100), 0.25, 0.1, "x" * 64)
    store.record_call(a.id, "judge", rec)
    store.record_call(a.id, "judge", rec)
    store.record_call(b.id, "judge", rec)
    assert store.spend(run_id=a.id) == pytest.approx(0.5)
    assert store.spend(issue=2) == pytest.approx(0.25)
    assert store.spend(since="2000-01-01T00:00:00Z") == pytest.approx(0.75)
    assert store.spend(since="2999-01-01T00:00:00Z") == 0
    totals = store.run_totals(a.id)
    assert totals["input_tokens"] == 220 and totals["output_tokens"] == 10 and totals["calls"] == 2


def test_runs_and_steps(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    run = store.create_run("triage", 3, {"number": 3}, {"mission.md": "abc"})
    assert store.find_open_run("triage", 3) == run
    seq = store.start_step(run.id, "prescreen", {"k": 1})
    store.finish_step(seq, "succeeded", {"decision": None}, model_s=0.5)
    seq2 = store.start_step(run.id, "prescreen", {})
    assert store.steps(run.id)[1].attempt == 2 and seq2 > seq
    store.set_run_status(run.id, "succeeded")
    assert store.find_open_run("triage", 3) is None
    assert store.get_run(run.id).finished_at is not None
    with pytest.raises(NotFoundError):
        store.get_run("r-missing")


def test_runs_that_ran_others_are_counted_apart_by_index_before_and_after_the_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run with a step that kept other workflows' runs (``Ran``, ``Children``) is no run
    that does work: ``run_counts`` and ``list_runs`` leave it out, an older store's too once
    migrated, by a flag the step's write sets; and counting reads no run's steps (at 50,000
    runs a look at each run's steps took 150 ms a ``factory status``)."""

    def runs(store: Store) -> tuple[str, str, str]:
        cycle, triage, open_ = (store.create_run(w, None, {}, {}).id for w in "cts")
        for run_id, artifact in ((cycle, "Children"), (triage, "IssueSpec"), (open_, None)):
            seq = store.start_step(run_id, "one", {})
            if artifact:
                store.finish_step(seq, "succeeded", {}, artifact=artifact)
            store.set_run_status(run_id, "succeeded")
        return cycle, triage, open_

    old = tuple(m for m in migrations.MIGRATIONS if m[0] < "m015")
    with monkeypatch.context() as mp:
        mp.setattr(migrations, "MIGRATIONS", old)
        store = Store.open(tmp_path)
        before = runs(store)
        store.close()
    store = Store.open(tmp_path)  # m015 marks the cycle run written before it
    after = runs(store)
    assert store.run_counts() == {"succeeded": 4}
    assert {r.id for r in store.list_runs(limit=None)} == {*before[1:], *after[1:]}
    assert {r.id for r in store.list_runs(limit=None, workflow="c")} == {before[0], after[0]}
    seen: list[str] = []
    conn = store._conn()
    conn.set_trace_callback(seen.append)
    store.run_counts()
    conn.set_trace_callback(None)
    plans = [
        str(row[3])
        for sql in seen
        if sql.lstrip().upper().startswith("SELECT")
        for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")
    ]
    assert plans and not [p for p in plans if "steps" in p or "SCAN runs" == p.strip()], plans


def test_a_run_and_its_steps_write_their_events_with_what_ended_them(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    run = store.create_run("triage", 3, {"number": 3}, {})
    seq = store.start_step(run.id, "judge", {})
    store.finish_step(seq, "failed", {}, error="no", event=StepEvent(step="judge", error="no"))
    store.set_run_status(run.id, "stopped", reason="a person cancelled it", event=True)
    store.set_run_status(run.id, "running")  # no event: the engine writes run.resumed
    store.set_run_status(run.id, "succeeded", event=True)
    said = [(e.kind, e.data) for e in store.events(run.id)]
    assert said == [
        ("step.failed", {"step": "judge", "error": "no"}),
        ("run.stopped", {"reason": "a person cancelled it"}),
        ("run.succeeded", {}),
    ]


def test_a_hand_off_holds_the_runs_named_and_nothing_else(tmp_path: Path) -> None:
    """``Store.hand_off``: a state folder of its own holding the runs named, their steps and
    model calls (their spend), and nothing else of the state (another run, the flags, the
    events); handed again, what it holds stays as it is."""
    store = Store.open(tmp_path / "state")
    change = store.create_run("implement", 1, {"number": 1}, {})
    store.finish_step(store.start_step(change.id, "pr", {}), "succeeded", {"pr": 7}, artifact="X")
    store.record_call(change.id, "code", CallRecord("m", Usage(10, 5, 0, 0), 0.25, 0.1, "x" * 64))
    store.set_run_status(change.id, "succeeded")
    health = store.create_run("health", None, {"journey": "a secret journey"}, {})
    store.finish_step(store.start_step(health.id, "check", {}), "failed", {"shown": "a page"})
    store.set_flag("health:abc", "a secret journey failed")
    for _ in range(2):
        store.hand_off(tmp_path / "handed", [change.id])
    handed = Store.open(tmp_path / "handed")
    assert [run.id for run in handed.list_runs(limit=None)] == [change.id]
    assert [(s.step_id, s.outputs) for s in handed.steps(change.id)] == [("pr", {"pr": 7})]
    assert handed.spend(issue=1) == pytest.approx(0.25)
    assert handed.get_flag("health:abc") is None
    held = b"".join(p.read_bytes() for p in (tmp_path / "handed").iterdir() if p.is_file())
    assert b"a secret journey" not in held and b"a page" not in held


def test_a_new_store_cut_short_leaves_no_copy_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy whose write fails (a full disk) is removed; no store is linked into place."""

    def full(path: Path, data: bytes) -> int:
        path.open("wb").write(data[:4096])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError, match="No space"):
        migrations.fresh(tmp_path / "state.db")
    assert list(tmp_path.iterdir()) == []
