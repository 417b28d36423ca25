"""The Trends page's counts, kept by the database as steps and model calls are written
(``harness/store/trends.py``): known steps give known figures, every later write of a step
(its smoke run reverting the merge, its landing rewritten) moves them, and what is kept equals
a recount of every step."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.model.base import CallRecord, Usage
from harness.store import base, trends
from harness.store.db import Store
from harness.store.records import Run

# what each kept table holds that counts (a row taken back to nothing counts for nothing)
KEPT = {
    "trend_counts": "n",
    "trend_tiers": "attempts OR merged",
    "trend_landed": "pairs",
    "issue_spend": "1",
}


def _step(store: Store, run: Run, artifact: str | None, outputs: dict, **how: str) -> int:
    """A step of ``run`` that ran ``how['action']`` and kept ``outputs`` as an ``artifact``."""
    seq = store.start_step(run.id, artifact or "merge", {"action": how.get("action", "")})
    store.finish_step(seq, how.get("status", "succeeded"), outputs, artifact=artifact)
    return seq


def _tables(db: sqlite3.Connection) -> dict[str, list[tuple]]:
    return {
        table: sorted(tuple(r) for r in db.execute(f"SELECT * FROM {table} WHERE {counts}"))
        for table, counts in KEPT.items()
    }


def _recounted(store: Store) -> dict[str, list[tuple]]:
    """The kept tables counted afresh from every step and call, in a copy of the store."""
    with closing(sqlite3.connect(":memory:")) as fresh:
        store._conn().backup(fresh)
        for kind, name in fresh.execute(
            "SELECT type, name FROM sqlite_master WHERE name LIKE 'trend%'"
            " OR name = 'issue_spend' ORDER BY type = 'table'"  # triggers first
        ).fetchall():
            fresh.execute(f"DROP {kind} IF EXISTS {name}")
        trends.install(fresh)
        return _tables(fresh)


def test_known_steps_give_known_trends_as_they_are_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the factory's clock at noon of the day the test runs: every step below is of one day,
    # even when the test runs across midnight
    noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    monkeypatch.setattr(base, "DAYS_AHEAD_S", noon.timestamp() - time.time())
    today = noon.date().isoformat()
    store = Store.open(tmp_path)
    implement = store.create_run("implement", 1, {}, {})
    models = {"implementer": "big", "reviewer": "small"}
    _step(store, implement, "Assignment", {"kind": "bug", "models": models})
    store.record_call(implement.id, "plan", CallRecord("big", Usage(10, 5), 0.25, 1, "0" * 64))
    validate = store.create_run("validate", 1, {}, {})
    _step(store, validate, "ValidationTarget", {"implement_run": implement.id})
    _step(store, validate, "Validation", {"route": "merge"})
    assert [t["merged"] for t in store.tier_success(today)] == [0, 0]  # not landed yet
    landing = _step(store, validate, "Landing", {"merge_sha": "abc"})
    smoke = _step(store, validate, "Smoke", {"reverted": None})
    untyped = store.create_run("validate", 5, {}, {})  # a merge that failed after it merged
    _step(store, untyped, None, {"merge_sha": "def"}, action="validate.merge", status="failed")
    triage = store.create_run("triage", 2, {}, {})
    _step(store, triage, "IssueSpec", {"decision": "reject"})
    _step(store, store.create_run("triage", 6, {}, {}), "IssueSpec", {"decision": "accept"})
    gates = store.create_run("implement", 3, {}, {})
    _step(store, gates, "GateReport", {"passed": False}, status="failed")
    refused = store.create_run("validate", 4, {}, {})
    _step(store, refused, "Validation", {"route": "holdout_conflict"})
    _step(store, refused, "Validation", {"route": "needs_review"})  # waiting: not refused

    tiers = [
        {"kind": "bug", "role": "implementer", "model": "big", "attempts": 1, "merged": 1},
        {"kind": "bug", "role": "reviewer", "model": "small", "attempts": 1, "merged": 1},
    ]
    assert store.tier_success(today) == store.tier_success() == tiers
    assert store.daily_merges(today) == {today: (2, 0.125)}  # issue 1 spent 0.25, issue 5 none
    assert store.refusals(today) == {
        "implementation: gates": 1,
        "triage: reject": 1,
        "validation: holdout_conflict": 1,
    }
    tomorrow = (noon + timedelta(days=1)).date().isoformat()
    assert (store.tier_success(tomorrow), store.daily_merges(tomorrow)) == ([], {})
    assert _tables(store._conn()) == _recounted(store)

    # its smoke run reverts the merge after all: refused, and the spend leaves the day
    store._write('UPDATE steps SET outputs = \'{"reverted": "f00d"}\' WHERE seq = ?', (smoke,))
    assert store.refusals(today)["reverted on production"] == 1
    assert store.daily_merges(today) == {today: (2, 0.0)}
    # the landing rewritten as one that did not merge: neither the day nor the attempt merged
    store._write("UPDATE steps SET outputs = '{}' WHERE seq = ?", (landing,))
    assert store.daily_merges(today) == {today: (1, 0.0)}
    assert [t["merged"] for t in store.tier_success()] == [0, 0]
    store._write('UPDATE steps SET outputs = \'{"merge_sha": "abc"}\' WHERE seq = ?', (landing,))
    assert store.tier_success() == tiers
    assert _tables(store._conn()) == _recounted(store)
