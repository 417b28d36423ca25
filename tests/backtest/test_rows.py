"""A backtest's row and summary are records: the JSON they write keeps the keys a reader
expects, in the order a reader wants, and a row or summary an older version stored reads
back (what it lacks at its default, a key the record no longer has passed over)."""

from __future__ import annotations

import json

from harness.backtest.cases import Case
from harness.backtest.report import CaseRow, Summary, error_row, summarise, unfinished_row
from harness.store.backtests import BacktestCase

CASE = Case(id="c1", issue=3, title="t", body="b", author="a", base="b" * 40, fix="f" * 40,
            tests=("test_app.py",))  # fmt: skip
PENDING = BacktestCase("bt", "c1", 0, CASE.key, "pending", {}, 0.5, 2.0, None, None)


def test_a_row_writes_its_keys_in_order_and_leaves_out_what_it_does_not_have() -> None:
    row = unfinished_row(CASE, PENDING).model_dump(mode="json")
    assert list(row) == [
        "id", "issue", "title", "status", "triage", "kind", "route", "trust_held", "resolved",
        "inconclusive", "validator", "cost_usd", "seconds", "reason", "base", "fix",
        "hidden_tests", "graded",
    ]  # fmt: skip
    assert (row["resolved"], row["reason"], row["cost_usd"]) == (None, "not rehearsed yet", 0.5)
    failed = error_row(CASE, "no such commit", 0.25).model_dump(mode="json")
    assert list(failed)[-1] == "error" and failed["inconclusive"] is True
    assert "suite_runs" not in failed and "changed" not in failed


def test_a_row_and_a_summary_stored_by_an_older_version_read_back() -> None:
    stored = unfinished_row(CASE, PENDING).model_dump(mode="json")
    del stored["inconclusive"]  # rows stored before it was said lack it
    stored["graded"] = {"resolved": True, "command": "pytest", "exit_code": 0, "output": "",
                        "before": True}  # fmt: skip  # a key Graded no longer has
    row = CaseRow.model_validate(json.loads(json.dumps(stored, sort_keys=True)))
    assert row.inconclusive is False and row.graded is not None and row.graded.resolved
    old = summarise([row]).model_dump(mode="json")
    del old["unproven"], old["inconclusive"]
    summary = Summary.model_validate(old)
    assert (summary.unproven, summary.inconclusive, summary.cases) == (0, 0, 1)
    assert "changed" not in summary.model_dump(mode="json")
