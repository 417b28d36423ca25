"""A backtest's report: one row per case, the summary, and what changed since the last
backtest of the same cases (a rehearsed governance edit shows which decisions it moves)."""

from __future__ import annotations

from typing import Any

from harness.backtest.cases import Case
from harness.backtest.grade import Graded
from harness.backtest.rehearse import Became
from harness.store.backtests import BacktestCase

# the decisions a governance edit may change, compared case by case
DECISIONS = ("triage", "route", "trust_held")
# a row's keys in the order a reader wants them (the store keeps them sorted)
ORDER = (
    "id", "issue", "title", "status", "triage", "kind", "route", "trust_held", "resolved",
    "inconclusive", "validator", "suite_runs", "cost_usd", "seconds", "reason", "changed",
    "compared_with", "base", "fix", "hidden_tests", "graded", "error",
)  # fmt: skip


def ordered(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with its keys in ``ORDER`` (any other after them)."""
    known = {k: row[k] for k in ORDER if k in row}
    return {**known, **{k: v for k, v in row.items() if k not in known}}


def _head(case: Case) -> dict[str, Any]:
    fields = case.model_dump(include={"id", "issue", "title", "base", "fix"})
    return {**fields, "hidden_tests": list(case.tests)}


UNPROVEN = (
    "the hidden tests pass on the fix's parent too, so they prove nothing here: "
    "commands.test does not run them, or they do not test what the fix changed"
)


INCONCLUSIVE = "the suite did not finish within its time limit, twice: no evidence either way"


def case_row(case: Case, became: Became, graded: Graded | None, cost: float) -> dict[str, Any]:
    """A finished case: what the factory decided, and whether the hidden tests pass on what
    it implemented (``resolved``; false when it implemented nothing). Null when nothing can
    be told: the hidden tests pass on the fix's parent as well (the grade is no evidence),
    triage did not accept it (nothing was attempted), or the case is ``inconclusive`` (the
    suite's time limit, or the factory's own model, forge or sandbox failed)."""
    row = became.to_json()
    row["suite_runs"] += graded.suite_runs if graded else 0
    resolved: bool | None = bool(graded and graded.resolved)
    row["inconclusive"] = graded.inconclusive if graded else became.inconclusive
    unknown = UNPROVEN if graded and graded.fails_before is False else None
    if became.triage not in (None, "accept"):
        unknown = f"stopped at triage ({became.triage}): nothing was attempted"
    unknown = INCONCLUSIVE if row["inconclusive"] else unknown
    if became.broke:  # no result: the factory could not rehearse it
        row |= {"inconclusive": True, "error": became.broke}
        unknown = f"inconclusive: {became.broke}"
    if unknown:
        resolved = None
        row["reason"] = f"{row['reason']}; {unknown}" if row["reason"] else unknown
    return {
        **_head(case),
        "status": "done",
        **row,
        "resolved": resolved,
        "graded": graded.model_dump(mode="json") if graded else None,
        "cost_usd": round(cost, 6),
    }


def _not_rehearsed(
    case: Case, status: str, reason: str, cost: float, seconds: float, **error: str
) -> dict[str, Any]:
    """A case with no decision to show, and why (``error``: it could not be rehearsed)."""
    return {
        **_head(case),
        "status": status,
        **dict.fromkeys(("triage", "kind", "route", "validator", "graded")),
        "trust_held": False,
        "reason": reason,
        "resolved": None,
        "inconclusive": bool(error),  # it could not be rehearsed: nothing can be told of it
        **error,
        "cost_usd": round(cost, 6),
        "seconds": round(seconds, 1),
    }


def error_row(case: Case, error: str, cost: float) -> dict[str, Any]:
    """A case that could not be rehearsed (its commits could not be rebuilt, say)."""
    return _not_rehearsed(case, "done", error, cost, 0.0, error=error)


def unfinished_row(case: Case, row: BacktestCase) -> dict[str, Any]:
    why = "not rehearsed yet" if row.status == "pending" else "under way when it stopped"
    return _not_rehearsed(case, "unfinished", why, row.cost_usd, row.seconds)


def changes(now: dict[str, Any], before: dict[str, Any]) -> list[dict[str, Any]]:
    """The decisions that differ from an earlier rehearsal of the same case."""
    return [
        {"field": name, "before": before.get(name), "after": now.get(name)}
        for name in DECISIONS
        if before.get(name) != now.get(name)
    ]


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``would_merge``: validation's gates would have merged it; a false merge would merge
    and is not resolved; a missed one is resolved and would not merge; an unproven one was
    graded by hidden tests that pass on the fix's parent too (neither resolved nor not)."""
    done = [r for r in rows if r["status"] == "done"]
    resolved = sum(1 for r in done if r["resolved"] is True)
    cost = sum(float(r["cost_usd"]) for r in rows)
    return {
        "cases": len(rows),
        "finished": len(done),
        "accepted": sum(1 for r in done if r["triage"] == "accept"),
        "resolved": resolved,
        "would_merge": sum(1 for r in done if r["route"] == "merge"),
        "false_merges": sum(1 for r in done if r["route"] == "merge" and r["resolved"] is False),
        "missed": sum(1 for r in done if r["resolved"] is True and r["route"] != "merge"),
        "unproven": sum(
            1
            for r in done
            if r["resolved"] is None and not r.get("inconclusive") and r["triage"] == "accept"
        ),
        "inconclusive": sum(1 for r in done if r.get("inconclusive")),
        "cost_usd": round(cost, 6),
        "cost_per_resolved_usd": round(cost / resolved, 6) if resolved else None,
        "seconds": round(sum(float(r["seconds"]) for r in rows), 1),
    }
