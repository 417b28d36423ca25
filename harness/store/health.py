"""Whether the state folder and its database can be used, checked before SQLite touches them.

A state that cannot be used is never repaired or recreated behind the maintainer's back: the
file is left as it was, and one line says what is wrong and what to do (restore the copy
taken before the last ``factory run``, or move the file aside).
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

from harness.caches import PROCESS
from harness.errors import StateError
from harness.store import migrations
from harness.store.base import DB_NAME
from harness.store.ledger import first_break

SQLITE_MAGIC = b"SQLite format 3\x00"
BACKUP_SUFFIX = ".backup"
HEADER_SIZE = 100


def backup_path(db: Path) -> Path:
    """The copy of the state taken before each ``factory run`` cycle."""
    return db.with_name(db.name + BACKUP_SUFFIX)


def _what_to_do(db: Path) -> str:
    backup = backup_path(db)
    if backup.is_file() and backup.stat().st_size > 0:
        return f"it was left untouched; restore the copy taken before the last run ({backup})"
    return (
        "it was left untouched and there is no backup; move it aside to start with an empty "
        "state ('factory doctor' reports the state)"
    )


def corrupt(db: Path, why: str) -> StateError:
    return StateError(f"{db}: the state database is corrupt ({why}); {_what_to_do(db)}")


def check_folder(state_dir: Path) -> None:
    """The state folder exists (or can be made) and is a folder."""
    if state_dir.exists() and not state_dir.is_dir():
        raise StateError(
            f"{state_dir}: the state folder is a file, not a folder "
            "(FACTORY_STATE_DIR chooses another place)"
        )
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(
            f"{state_dir}: the state folder is missing and cannot be created "
            f"({exc.strerror or exc}); create it or set FACTORY_STATE_DIR to a writable folder"
        ) from None


# Stores of this process not closed yet, per database. While one is open the file is never
# read directly: closing any descriptor of a file drops every POSIX lock this process holds
# on it, SQLite's included. SQLite's own checks stand in for the header check then.
@dataclass
class _Live:
    lock: threading.Lock = field(default_factory=threading.Lock)
    stores: dict[Path, int] = field(default_factory=dict)  # database -> stores open on it

    def check_unless_open(self, db: Path, opened: int = 0) -> Path:
        """Check ``db`` unless a store of this process has it open, and count ``opened`` more
        stores open on it; the key it is counted by."""
        key = db.resolve()
        with self.lock:
            if not self.stores.get(key):
                check_file(db)
            self.stores[key] = self.stores.get(key, 0) + opened
        return key


def opening(db: Path) -> Path:
    """Check ``db`` (unless this process has it open already) and count one more store."""
    return PROCESS.part(_Live).check_unless_open(db, opened=1)


def closed(key: Path) -> None:
    live = PROCESS.part(_Live)
    with live.lock:
        live.stores[key] = max(0, live.stores.get(key, 0) - 1)


def check_file(db: Path) -> None:
    """Refuse, without writing a byte, a state file SQLite would misread or silently replace:
    a folder in its place, 0 bytes, something that is not SQLite, or a truncated file."""
    if not db.exists() and not db.is_symlink():
        return  # a fresh state: created by the first transaction
    if db.is_dir():
        raise StateError(f"{db}: is a folder, not the state database; move it aside")
    try:
        size = db.stat().st_size
        with db.open("rb") as handle:
            header = handle.read(HEADER_SIZE)
    except OSError as exc:
        raise StateError(f"{db}: the state database cannot be read ({exc.strerror})") from None
    if size == 0:
        raise corrupt(db, "0 bytes: it was emptied or truncated")
    if len(header) < HEADER_SIZE or not header.startswith(SQLITE_MAGIC):
        raise corrupt(db, "not an SQLite database")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    counter = header[24:28]
    valid_for = header[92:96]
    if page_size < 512 or page_size & (page_size - 1):
        raise corrupt(db, "its header is damaged")
    if counter == valid_for and pages and size < pages * page_size:
        raise corrupt(db, f"truncated: {size:,} of {pages * page_size:,} bytes")


def explain(exc: sqlite3.Error, db: Path) -> StateError | None:
    """The one line for an SQLite failure that says the state is unusable (else None)."""
    text = str(exc).lower()
    if "not a database" in text or "malformed" in text or "file is encrypted" in text:
        return corrupt(db, str(exc))
    if "readonly" in text or "read-only" in text or "unable to open database file" in text:
        folder = db.parent
        why = "read-only" if not _writable(folder) else "cannot be opened for writing"
        return StateError(
            f"{folder}: the state folder is {why}; the factory writes its state there "
            "(make it writable or set FACTORY_STATE_DIR to another folder)"
        )
    if "disk is full" in text:
        return StateError(f"{db}: the state database cannot be written ({exc})")
    return None


def _writable(folder: Path) -> bool:
    """Whether a file can really be created in ``folder`` (``os.access`` says yes to root on a
    read-only mount, so try it)."""
    probe = folder / f".factory-write-probe-{os.getpid()}"
    try:
        probe.touch()
    except OSError as exc:
        return exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM)
    probe.unlink(missing_ok=True)
    return True


def check_schema(applied: set[str], db: Path) -> None:
    """A state written by a newer harness (migrations this one does not know) is not touched."""
    unknown = sorted(applied - {name for name, _ in migrations.MIGRATIONS})
    if unknown:
        raise StateError(
            f"{db}: the state was written by a newer version of the factory (schema "
            f"{unknown[-1]} is unknown here); upgrade the factory, or point FACTORY_STATE_DIR "
            "at another folder"
        )


@dataclass(frozen=True)
class StateHealth:
    ok: bool
    detail: str


def state_health(state_dir: Path) -> StateHealth:
    """What ``factory doctor`` says about the state: it opens read-only, changes nothing."""
    db = state_dir / DB_NAME
    if not db.exists():
        return StateHealth(True, f"{db}: no state yet (the first run creates it)")
    try:
        PROCESS.part(_Live).check_unless_open(db)
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            verdict = conn.execute("PRAGMA quick_check").fetchone()
            rows = conn.execute("SELECT name FROM migrations").fetchall()
            edited = first_break(conn) if verdict and verdict[0] == "ok" else None
        finally:
            conn.close()
        check_schema({str(r[0]) for r in rows}, db)
    except StateError as exc:
        return StateHealth(False, str(exc))
    except sqlite3.Error as exc:
        return StateHealth(False, str(explain(exc, db) or corrupt(db, str(exc))))
    if not verdict or verdict[0] != "ok":
        found = verdict[0] if verdict else "no answer"
        return StateHealth(False, str(corrupt(db, f"quick_check: {found}")))
    if edited is not None:
        return StateHealth(
            False,
            f"{db}: the audit trail was edited: event {edited} does not follow from the one "
            "before it (altered, removed or reordered since it was written); " + _what_to_do(db),
        )
    return StateHealth(True, f"{db}: intact, schema {len(rows)} of {len(migrations.MIGRATIONS)}")
