"""A big store made of real rows: a demo run's runs, steps, model calls, events and issues,
copied as many times as asked, each copy with its own issue numbers and run ids and moved
back in time, so that the copies look like a factory that ran for weeks.

    source = demo_source(root)                      # one real 'factory demo', and a person's reject
    store = Store.open(state)
    copy_rows(source.state_dir / "state.db", store, copies=834, spread_s=29 * 86_400)

Rows go in through the store's own transaction, in bulk (one ``executemany`` per table
and copy): seconds for 10,000 runs, where running that many workflows would take days."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from harness.store.base import dumps
from harness.store.db import Store
from harness.store.ledger import GENESIS, event_hash

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_RUN_ID = re.compile(r"\br-[0-9a-f]{10}\b")  # a run named in a step's record
_NOT_FOR_THE_DEMO = ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "FACTORY_STATE_DIR")


@dataclass(frozen=True)
class Source:
    repo: Path
    state_dir: Path


def demo_source(root: Path) -> Source:
    """``factory demo`` once, then a person rejects the issue the pre-screen handed over:
    triage runs that accept and reject, implement and validate runs that merge, refuse and
    fail, a health run, model calls, and the audit trail with a ``human.*`` event."""
    from harness.decisions import decide
    from harness.demo import run_demo
    from harness.services import open_services

    # offline, with the scripted model, in the demo's own state (whatever ran before set)
    saved = {k: os.environ.pop(k) for k in _NOT_FOR_THE_DEMO if k in os.environ}
    try:
        report = run_demo(root / "demo")
    finally:
        os.environ.update(saved)
    services = open_services(report.repo, report.state_dir)
    held = [r["issue"] for r in report.triage if r.get("decision") == "needs_human"]
    for number in held:
        decide(services, "reject", number, "maintainer", "Not something we will do.")
    services.store.close()
    return Source(report.repo, report.state_dir)


def _shift(text: str | None, by: timedelta) -> str | None:
    if not text or not by:
        return text
    return (datetime.fromisoformat(text) + by).strftime(_FORMAT)


def _rows(db: sqlite3.Connection, sql: str) -> list[dict[str, Any]]:
    return [dict(r) for r in db.execute(sql)]


def _read(source_db: Path) -> dict[str, list[dict[str, Any]]]:
    with contextlib.closing(sqlite3.connect(f"file:{source_db}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        return {
            "runs": _rows(db, "SELECT * FROM runs ORDER BY rowid"),
            "steps": _rows(db, "SELECT * FROM steps ORDER BY seq"),
            "model_calls": _rows(db, "SELECT * FROM model_calls ORDER BY id"),
            "events": _rows(db, "SELECT * FROM events ORDER BY id"),
            "issues": _rows(db, "SELECT * FROM issues ORDER BY number"),
            "issue_labels": _rows(db, "SELECT * FROM issue_labels"),
            "labels": _rows(db, "SELECT * FROM labels"),
            "comments": _rows(db, "SELECT * FROM comments ORDER BY id"),
        }


def _insert(db: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        generated = {"says"}  # steps.says is computed from the record (migration m010)
        # an older schema's table lacks the columns later migrations add (runs.parent: m014)
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        columns = [c for c in rows[0] if c not in generated and c in have]
        marks = ",".join("?" * len(columns))
        db.executemany(
            f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})",
            [tuple(r[c] for c in columns) for r in rows],
        )


_TIMES = ("started_at", "finished_at", "ts", "created_at", "updated_at")


def _without(row: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != key}


def _renamed(record: str | None, ids: dict[str, str]) -> str | None:
    """A step's record with the runs it names (a reused test result's, say) as copied."""
    return _RUN_ID.sub(lambda found: ids.get(found[0], found[0]), record) if record else record


def _copy(row: dict[str, Any], by: timedelta, **changes: Any) -> dict[str, Any]:
    out = {**row, **changes}
    for name in _TIMES:
        if name in out:
            out[name] = _shift(out[name], by)
    return out


def copy_rows(source_db: Path, store: Store, copies: int, spread_s: float = 0.0) -> int:
    """Append ``copies`` copies of the source's rows to ``store``, the oldest first: copy
    ``k`` (0 is the newest, at the source's own times) is moved ``k * spread_s / copies``
    seconds back; issue ``n`` of copy ``k`` is ``n + k * stride`` above the store's highest
    issue. The audit trail's hash chain stays whole. Returns the number of runs added."""
    src = _read(source_db)
    stride = max([r["issue"] or 0 for r in src["runs"]] + [i["number"] for i in src["issues"]])
    with store.transaction() as db:
        base = db.execute(
            "SELECT MAX(COALESCE((SELECT MAX(issue) FROM runs), 0),"
            " COALESCE((SELECT MAX(number) FROM issues), 0))"
        ).fetchone()[0]
        last = db.execute("SELECT hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
        prev = last[0] if last else GENESIS
        db.executemany(
            "INSERT OR IGNORE INTO labels VALUES (?, ?, ?)",
            [(r["name"], r["color"], r["description"]) for r in src["labels"]],
        )
        for k in range(copies - 1, -1, -1):
            by = timedelta(seconds=-k * spread_s / max(copies, 1))
            offset = base + k * stride

            def issue(n: Any, offset: int = offset) -> Any:
                return n + offset if isinstance(n, int) else n

            ids = {
                r["id"]: "r-" + hashlib.sha256(f"{r['id']}/{offset}".encode()).hexdigest()[:10]
                for r in src["runs"]
            }
            _insert(
                db,
                "runs",
                [
                    _copy(r, by, id=ids[r["id"]], issue=issue(r["issue"]))
                    | {"parent": ids.get(r.get("parent") or "")}
                    for r in src["runs"]
                ],
            )
            _insert(
                db,
                "steps",
                [
                    _copy(
                        _without(r, "seq"),
                        by,
                        run_id=ids[r["run_id"]],
                        outputs=_renamed(r["outputs"], ids),
                    )
                    for r in src["steps"]
                ],
            )
            _insert(
                db,
                "model_calls",
                [_copy(_without(r, "id"), by, run_id=ids[r["run_id"]]) for r in src["model_calls"]],
            )
            events = []
            for r in src["events"]:
                data = json.loads(r["data"])
                if isinstance(data, dict) and "issue" in data:
                    data["issue"] = issue(data["issue"])
                run_id = ids.get(r["run_id"], r["run_id"])
                ts = _shift(r["ts"], by) or ""
                payload = dumps(data)
                digest = event_hash(prev, run_id, ts, r["kind"], payload)
                events.append(
                    {
                        "run_id": run_id,
                        "ts": ts,
                        "kind": r["kind"],
                        "data": payload,
                        "prev_hash": prev,
                        "hash": digest,
                    }
                )
                prev = digest
            _insert(db, "events", events)
            _insert(db, "issues", [_copy(r, by, number=issue(r["number"])) for r in src["issues"]])
            _insert(
                db,
                "issue_labels",
                [{**r, "number": issue(r["number"])} for r in src["issue_labels"]],
            )
            _insert(
                db,
                "comments",
                [_copy(_without(r, "id"), by, number=issue(r["number"])) for r in src["comments"]],
            )
    return copies * len(src["runs"])
