"""The schema as an ordered tuple of migrations, with a table of the applied ones."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from harness.caches import PROCESS, Memo
from harness.store import outcomes, trends
from harness.store.base import execute_script, recreate
from harness.store.forge_tables import QUEUE

Migration = Callable[[sqlite3.Connection], None]


def _script(name: str, sql: str) -> Migration:
    """Migration ``name``: ``sql`` run statement by statement (``execute_script``)."""

    def migration(db: sqlite3.Connection) -> None:
        execute_script(db, sql)

    migration.__name__ = name
    return migration


# the first schema: runs, their steps, model calls, the event chain, flags and leases
_M001_RUNS = """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            workflow TEXT NOT NULL,
            issue INTEGER,
            status TEXT NOT NULL CHECK (status IN ('running','succeeded','failed','stopped')),
            reason TEXT,
            current_step TEXT,
            not_before REAL,
            inputs TEXT NOT NULL DEFAULT '{}',
            governance TEXT NOT NULL DEFAULT '{}',
            started_at TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE INDEX runs_workflow_issue ON runs (workflow, issue);
        CREATE TABLE steps (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs (id),
            step_id TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            status TEXT NOT NULL,
            inputs TEXT NOT NULL DEFAULT '{}',
            outputs TEXT NOT NULL DEFAULT '{}',
            error TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            duration_s REAL,
            model_s REAL NOT NULL DEFAULT 0,
            subprocess_s REAL NOT NULL DEFAULT 0
        );
        CREATE INDEX steps_run ON steps (run_id, seq);
        CREATE TABLE model_calls (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs (id),
            step_id TEXT NOT NULL,
            ts TEXT NOT NULL,
            model TEXT NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cache_creation_input_tokens INTEGER NOT NULL,
            cache_read_input_tokens INTEGER NOT NULL,
            cost_usd REAL NOT NULL,
            duration_s REAL NOT NULL,
            request_sha256 TEXT NOT NULL,
            stop_reason TEXT,
            error TEXT
        );
        CREATE INDEX model_calls_run ON model_calls (run_id);
        CREATE INDEX model_calls_ts ON model_calls (ts);
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT,
            ts TEXT NOT NULL,
            kind TEXT NOT NULL,
            data TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE TABLE flags (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);
        CREATE TABLE leases (
            issue INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL,
            fence INTEGER NOT NULL,
            expires_at REAL NOT NULL
        );
        """


m001_runs = _script("m001_runs", _M001_RUNS)


m002_local_forge = _script(
    "m002_local_forge",
    """
        CREATE TABLE issues (
            number INTEGER PRIMARY KEY AUTOINCREMENT,
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            author TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('open','closed')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE labels (name TEXT PRIMARY KEY, color TEXT NOT NULL, description TEXT NOT NULL);
        CREATE TABLE issue_labels (
            number INTEGER NOT NULL REFERENCES issues (number),
            label TEXT NOT NULL,
            PRIMARY KEY (number, label)
        );
        CREATE TABLE comments (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            number INTEGER NOT NULL REFERENCES issues (number),
            author TEXT NOT NULL,
            body TEXT NOT NULL,
            marker TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (number, marker)
        );
        CREATE TABLE pull_requests (
            number INTEGER PRIMARY KEY AUTOINCREMENT,
            issue INTEGER NOT NULL,
            branch TEXT NOT NULL UNIQUE,
            base TEXT NOT NULL,
            head_sha TEXT NOT NULL,
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('open','merged','closed')),
            merge_sha TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE ci_status (
            sha TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at TEXT NOT NULL
        );
        """,
)


# Writes to a remote forge: recorded before they are sent, resolved after.
m003_forge_intents = _script(
    "m003_forge_intents",
    """
        CREATE TABLE forge_intents (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending','done')),
            result TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        """,
)


# What a remote forge answered, kept across runs: the open-issue snapshot, ETags for
# conditional requests, and facts checked once per repository (labels set up, login).
m004_forge_cache = _script(
    "m004_forge_cache",
    """
        CREATE TABLE forge_cache (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            validator TEXT,
            updated_at TEXT NOT NULL
        );
        """,
)


# A step's outputs may be a typed hand-off (its type is recorded, so the next workflow
# finds it by type and issue); a failed step records what kind of failure it was.
m005_step_artifact_and_error_kind = _script(
    "m005_step_artifact_and_error_kind",
    """
        ALTER TABLE steps ADD COLUMN artifact TEXT;
        ALTER TABLE steps ADD COLUMN error_kind TEXT;
        CREATE INDEX steps_artifact ON steps (artifact, seq) WHERE artifact IS NOT NULL;
        """,
)


def m006_indexes_and_outcomes(db: sqlite3.Connection) -> None:
    """Indexes for what status, history, the dashboard and the review read. The outcome
    tables the database keeps up to date as runs finish (``outcomes.py``) came with it; they
    are installed by the newest migration that defines them (``m009``: see ``MIGRATIONS``)."""
    execute_script(
        db,
        """
        CREATE INDEX runs_status ON runs (status, started_at);
        CREATE INDEX runs_started ON runs (started_at);
        CREATE INDEX runs_issue ON runs (issue, started_at);
        CREATE INDEX runs_workflow_started ON runs (workflow, started_at);
        CREATE INDEX steps_step ON steps (step_id, run_id, status);
        CREATE INDEX events_kind ON events (kind);
        CREATE INDEX events_issue ON events (json_extract(data, '$.issue'));
        DROP INDEX model_calls_ts;
        CREATE INDEX model_calls_ts ON model_calls (ts, cost_usd);
        """,
    )


# Rehearsals (``factory backtest``): each backtest and its cases with their results, read
# by the report, the dashboard, the next backtest's comparison and earned trust (when a
# maintainer allows it); the runs of a case live in a scratch state of their own.
m007_backtests = _script(
    "m007_backtests",
    """
        CREATE TABLE backtests (
            id TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            governance TEXT NOT NULL,
            edit INTEGER NOT NULL DEFAULT 0,
            source TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('running','finished')),
            started_at TEXT NOT NULL,
            finished_at TEXT,
            summary TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX backtests_fingerprint ON backtests (fingerprint, status);
        CREATE TABLE backtest_cases (
            backtest_id TEXT NOT NULL REFERENCES backtests (id),
            case_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            case_key TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending','running','done')),
            result TEXT NOT NULL DEFAULT '{}',
            cost_usd REAL NOT NULL DEFAULT 0,
            seconds REAL NOT NULL DEFAULT 0,
            updated_at TEXT,
            finished_at TEXT,
            PRIMARY KEY (backtest_id, case_id)
        );
        CREATE INDEX backtest_cases_key ON backtest_cases (case_key, status);
        CREATE INDEX backtest_cases_updated ON backtest_cases (updated_at, cost_usd);
        """,
)


# what each shipped action or agent output recorded before its record had a type: (the step's
# action or output tool, the type, the statuses whose record is one)
_TYPED_SINCE_M008 = (
    ("action", "triage.ack", "Acknowledgement", ("succeeded",)),
    ("action", "implement.prepare", "Assignment", ("succeeded",)),
    ("action", "implement.worktree", "Worktree", ("succeeded",)),
    ("action", "implement.setup", "SetupRun", ("succeeded", "failed")),
    ("action", "implement.test", "Tested", ("succeeded", "failed")),
    ("action", "implement.commit", "Commit", ("succeeded",)),
    ("action", "implement.gates", "GateReport", ("succeeded", "failed")),
    ("action", "validate.baseline", "HoldoutRun", ("failed",)),
    ("output", "submit_plan", "Plan", ("succeeded",)),
    ("output", "finish", "Implemented", ("succeeded",)),
    ("output", "submit_review", "Review", ("succeeded",)),
)


def m008_typed_records(db: sqlite3.Connection) -> None:
    """Every step's record has a type its readers find it by (the dashboard, ``factory
    report``): the records written before are typed by the action or output tool that made
    them; the outcome tables pick steps by type, not by id (``outcomes.py``), as ``m009``
    installs them."""
    for field, name, artifact, statuses in _TYPED_SINCE_M008:
        marks = ",".join("?" * len(statuses))
        db.execute(
            f"UPDATE steps SET artifact = ? WHERE artifact IS NULL AND status IN ({marks})"
            f" AND outputs NOT IN ('', '{{}}') AND json_extract(inputs, '$.{field}') = ?",
            (artifact, *statuses, name),
        )
    db.execute("CREATE INDEX steps_run_artifact ON steps (run_id, artifact, status)")


def m009_latest_when_it_can_change(db: sqlite3.Connection) -> None:
    """``issue_latest`` is recomputed only by a step write whose outputs may hold what it
    shows (``outcomes.py``), not by every step start and end."""
    outcomes.install(db)


def m010_what_a_step_says(db: sqlite3.Connection) -> None:
    """What a step's record says that the trends count (``trends.py``), kept beside it in an
    index, so counting reads no record's JSON: a validation's route, a triage's decision,
    whether gates passed, whether a smoke check reverted, whether a landing merged. A
    generated column, so it is what the record says whatever wrote it; it replaces the index
    on run, type and status, which it extends."""
    reverted = outcomes.truthy("outputs", "reverted")
    merged = outcomes.truthy("outputs", "merge_sha")
    db.execute(
        f"""ALTER TABLE steps ADD COLUMN says GENERATED ALWAYS AS (
            CASE WHEN artifact IN ('Validation', 'IssueSpec', 'GateReport', 'Smoke', 'Landing')
                  AND json_valid(outputs) THEN
              CASE artifact WHEN 'Validation' THEN json_extract(outputs, '$.route')
                            WHEN 'IssueSpec' THEN json_extract(outputs, '$.decision')
                            WHEN 'GateReport' THEN json_extract(outputs, '$.passed')
                            WHEN 'Smoke' THEN {reverted}
                            WHEN 'Landing' THEN {merged} END END) VIRTUAL"""
    )
    db.execute("CREATE INDEX steps_run_says ON steps (run_id, artifact, status, says)")
    db.execute("DROP INDEX steps_run_artifact")


def m011_kept_trends_and_queue(db: sqlite3.Connection) -> None:
    """What the Trends page counts, kept per day (``trends.py``), and each issue's state on the
    queue (``forge_tables.py``), by triggers: the pages read rows per day and kind, or a page.
    Both are installed by the newest migration that defines them: ``m012`` the queue,
    ``m013`` the trends (see ``MIGRATIONS``)."""


def m012_closed_is_closed(db: sqlite3.Connection) -> None:
    """One definition of each outcome in every view: a closed issue is closed on the queue
    (unless merged or rejected), and the Trends page counts no deferral and no request for
    information as a refusal (``outcomes.NOT_REFUSED``): both kept anew (the trends by
    ``m013``, which defines them again)."""
    recreate(db, QUEUE)


def m013_a_rebase_is_no_attempt(db: sqlite3.Connection) -> None:
    """The models' figures count a rebase as the attempt it goes on with, not one of its own
    (``trends.py``): kept anew."""
    trends.install(db)


# A child workflow's run names the run and the step that started it (a ``workflow:``
# step), so the parent resumed after a kill finds its children, finished or not.
m014_runs_know_their_parent = _script(
    "m014_runs_know_their_parent",
    "ALTER TABLE runs ADD COLUMN parent TEXT;\n"
    "ALTER TABLE runs ADD COLUMN parent_step TEXT;\n"
    "CREATE INDEX runs_parent ON runs (parent) WHERE parent IS NOT NULL;\n",
)

# A run that ran other workflows (a step of it kept their runs: ``Ran``, ``Children``) is
# marked when that step's record is written, so the runs that do work are counted and listed
# by an index, not by a look at every run's steps (``run_counts``, ``list_runs``).
m015_runs_marked_when_they_orchestrate = _script(
    "m015_runs_marked_when_they_orchestrate",
    """
    ALTER TABLE runs ADD COLUMN orchestrates INTEGER NOT NULL DEFAULT 0;
    UPDATE runs SET orchestrates = 1
      WHERE id IN (SELECT run_id FROM steps WHERE artifact IN ('Ran', 'Children'));
    CREATE INDEX runs_working ON runs (status) WHERE NOT orchestrates;
    CREATE TRIGGER runs_orchestrate AFTER UPDATE OF artifact ON steps
      WHEN NEW.artifact IN ('Ran', 'Children')
      BEGIN UPDATE runs SET orchestrates = 1 WHERE id = NEW.run_id; END;
    """,
)


# A kept definition (the outcome tables, the trends, the queue's states: each made anew by its
# ``install`` or ``recreate``, which drops what it makes and fills it from the rows there are)
# is installed by the newest migration that defines it, and by none before it: migrations
# apply in order, so a store that lacks an older one runs the newest too, and what an older
# one installed the newest would drop and make again (a fresh store made each kept table
# three times: half the cost of a new store).
MIGRATIONS: tuple[tuple[str, Migration], ...] = tuple(
    (fn.__name__, fn)
    for fn in (
        m001_runs,
        m002_local_forge,
        m003_forge_intents,
        m004_forge_cache,
        m005_step_artifact_and_error_kind,
        m006_indexes_and_outcomes,
        m007_backtests,
        m008_typed_records,
        m009_latest_when_it_can_change,
        m010_what_a_step_says,
        m011_kept_trends_and_queue,
        m012_closed_is_closed,
        m013_a_rebase_is_no_attempt,
        m014_runs_know_their_parent,
        m015_runs_marked_when_they_orchestrate,
    )
)


def applied_names(db: sqlite3.Connection) -> set[str]:
    """The migrations a store has (none for a new one)."""
    found = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'"
    ).fetchone()
    return {str(r[0]) for r in db.execute("SELECT name FROM migrations")} if found else set()


def migrate(db: sqlite3.Connection, done: set[str]) -> None:
    """Apply the migrations not applied yet (``done``: those the caller read, ``applied_names``),
    each in its own transaction. A current store is only read: runs that open it at once take
    no write lock (SQLite's busy handler would make them wait in steps of up to 100 ms)."""
    if all(name in done for name, _ in MIGRATIONS):
        return
    db.execute(
        "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    for name, fn in MIGRATIONS:
        db.execute("BEGIN IMMEDIATE")
        try:
            done = db.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)).fetchone()
            if not done:
                fn(db)
                db.execute(
                    "INSERT INTO migrations VALUES (?, strftime('%Y-%m-%dT%H:%M:%SZ','now'))",
                    (name,),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


class _Schemas(Memo[bytes]):
    """A new store's file as these migrations leave it, made once per process in memory."""


def _migrated() -> bytes:
    with contextlib.closing(sqlite3.connect(":memory:", isolation_level=None)) as db:
        migrate(db, set())
        return db.serialize()


def fresh(db: Path) -> None:
    """``db`` (absent) made a migrated store: a copy of this process's (``_Schemas``), linked
    into place, so the migrations run once a process instead of once a new store (each of them
    makes SQLite parse the whole schema again); a store another process made first is kept."""
    partial = db.with_name(f"{db.name}.{os.getpid()}.{threading.get_ident()}.new")
    schema = PROCESS.part(_Schemas).get(tuple(MIGRATIONS), _migrated)
    try:  # a copy cut short (a full disk) is removed too
        partial.write_bytes(schema)
        with contextlib.suppress(FileExistsError):
            os.link(partial, db)
    finally:
        partial.unlink(missing_ok=True)
