"""Connections and transactions: WAL mode, one connection per thread to read, and one per store
that every thread's BEGIN IMMEDIATE write takes in turn."""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from harness.caches import PROCESS, Locks
from harness.redact import redact

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

DB_NAME = "state.db"
R = TypeVar("R", bound="DataclassInstance")


# How far the factory's days run ahead of the system clock: 0, but for a rehearsal of many
# days in a few minutes (``python -m benchmarks soak``, docs/development.md).
DAYS_AHEAD_S = 0.0


def factory_now() -> float:
    """Now, as the factory dates what it records and counts its days (the budgets per day, an
    author's daily limit, a deferred run's hour): the system clock, ``DAYS_AHEAD_S`` on."""
    return time.time() + DAYS_AHEAD_S


def utc_now(at: float | None = None) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (``isoformat``, several times faster than ``strftime``
    for a value written with every row)."""
    moment = datetime.fromtimestamp(factory_now() if at is None else at, UTC)
    return moment.isoformat(timespec="microseconds").removesuffix("+00:00") + "Z"


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def stored(value: Any) -> str:
    """``value`` as the store keeps what a run produced: JSON with every secret redacted, so
    every reader (``factory report``, the dashboard, a copy of the file) shows the same."""
    return redact(dumps(value))


def stored_text(text: str | None) -> str | None:
    return None if text is None else redact(text)


def loads(text: str | None) -> Any:
    return json.loads(text) if text else {}


@functools.cache
def _names(cls: type[DataclassInstance]) -> tuple[str, ...]:
    """The record's field names, read once per type (``fields`` walks the class each time:
    it was most of the cost of reading a page of rows)."""
    return tuple(f.name for f in fields(cls))


def from_row(cls: type[R], row: sqlite3.Row, json: tuple[str, ...] = (), **given: Any) -> R:
    """A ``cls`` from ``row``: each field not ``given`` from the column of its name (decoded
    when it is one of the ``json`` columns; its default where an older schema has no such
    column)."""
    columns = row.keys()
    values = {name: row[name] for name in _names(cls) if name not in given and name in columns}
    return cls(**values | {name: loads(row[name]) for name in json}, **given)


def execute_script(db: sqlite3.Connection, sql: str) -> None:
    """Run SQL statement by statement inside the caller's transaction (``executescript``
    would commit it); a trigger's body (``BEGIN … END``) stays one statement."""
    statement = ""
    for line in sql.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip():
        db.execute(statement)


def recreate(db: sqlite3.Connection, sql: str) -> None:
    """``sql`` run after dropping every table and trigger it creates (a definition written
    again: its rows computed anew from what the store holds), in the caller's transaction."""
    for kind, name in re.findall(r"CREATE (TRIGGER|TABLE) (\w+)", sql):
        db.execute(f"DROP {kind} IF EXISTS {name}")
    execute_script(db, sql)


class _Writers(Locks):
    """One lock per database file for the threads of this process. SQLite's own busy handler
    makes a blocked writer sleep in steps of up to 100 ms; threads queued on this lock go on
    the moment the writer before them commits. Other processes still meet SQLite's lock."""


class StoreBase:
    """Owns the database file; each thread reads on a connection of its own and writes on the
    store's writing connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writer = PROCESS.part(_Writers).get(str(path.resolve()), threading.Lock)
        self._writing: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        """The connection this thread reads on: its own, used by this thread alone, or while it
        writes the store's writing connection (it reads what it wrote)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _connect(self) -> sqlite3.Connection:
        """A new connection, closed by whichever thread closes the store."""
        conn = sqlite3.connect(
            self.path, isolation_level=None, timeout=30.0, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        with self._lock:  # closed with the store from here on, even if a pragma fails
            self._all.append(conn)  # (a damaged file fails the first one)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")  # (``timeout`` is SQLite's busy timeout)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One state change: ``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on any error), on
        the store's one writing connection, which the threads take in turn (they take turns at
        the write lock anyway): a write statement, with the triggers SQLite compiles into it,
        is prepared once a store instead of once a thread."""
        own = getattr(self._local, "conn", None)  # a write opens no connection to read on
        if own and own.in_transaction:  # nested: join the outer transaction
            yield own
            return
        with self._writer:
            conn = self._local.conn = self._writing = self._writing or self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                self._local.conn = own  # this thread's own again (or none yet)
            conn.execute("COMMIT")

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        """One statement in a transaction of its own."""
        with self.transaction() as db:
            db.execute(sql, args)

    @staticmethod
    def _where(*conditions: tuple[str, object]) -> tuple[str, tuple[object, ...]]:
        """`` WHERE …`` joining the SQL conditions whose value is not None, and their
        arguments (a tuple value fills several ``?``)."""
        kept = [
            (sql, v if isinstance(v, tuple) else (v,)) for sql, v in conditions if v is not None
        ]
        text = " WHERE " + " AND ".join(sql for sql, _ in kept) if kept else ""
        return text, tuple(arg for _, values in kept for arg in values)

    def _rows(self, sql: str, args: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return self._conn().execute(sql, args).fetchall()

    def _row(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        return cast("sqlite3.Row | None", self._conn().execute(sql, args).fetchone())

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local, self._writing = threading.local(), None
