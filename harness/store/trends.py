"""The dashboard's trends, kept per day a run started (the window) as steps and model calls are
written (triggers, in the write's transaction: a write adds what its step counts and takes away
what it counted before; steps and calls are never deleted): merges, the spend of each merged
issue, refusals by reason, each implement attempt's model per role and whether it merged. Steps
are picked by type, what each says read from the index beside it (``says``, migration m010)."""

from __future__ import annotations

import sqlite3

from harness.store.base import StoreBase, recreate
from harness.store.outcomes import FAILED_MERGE, NOT_REFUSED, truthy
from harness.store.records import TierRow

REVERTED = "reverted on production"
_GOES_ON = ("", *NOT_REFUSED)  # what a step says that no refusal count takes

# what a step ``s`` of run ``r`` counts (NULL: nothing): a merge, or a refusal by its reason
_WHAT = f"""CASE WHEN r.workflow = 'validate' AND (s.artifact = 'Landing' AND s.says OR
    s.artifact IS NULL AND {FAILED_MERGE} AND {truthy("s.outputs", "merge_sha")}) THEN 'merge'
  WHEN r.workflow = 'validate' AND s.artifact = 'Smoke' AND s.says AND r.issue THEN '{REVERTED}'
  WHEN r.workflow = 'validate' AND s.artifact = 'Validation'
   AND COALESCE(s.says, '') NOT IN {_GOES_ON} THEN 'validation: ' || s.says
  WHEN r.workflow = 'triage' AND s.artifact = 'IssueSpec'
   AND COALESCE(s.says, '') NOT IN {_GOES_ON} THEN 'triage: ' || s.says
  WHEN r.workflow = 'implement' AND s.artifact = 'GateReport'
   AND (s.status = 'failed' OR s.says IS 0) THEN 'implementation: gates' END"""


def _counts(sign: str, where: str) -> str:
    """Add ``sign`` × what the steps ``where`` picks count (by issue, 0: none, if a merge)."""
    return f"""INSERT INTO trend_counts SELECT what, started, day,
           CASE WHEN what IN ('merge', '{REVERTED}') THEN issue ELSE 0 END, {sign} * COUNT(*)
      FROM (SELECT {_WHAT} AS what, substr(r.started_at, 1, 10) AS started, COALESCE(r.issue, 0)
                   AS issue, substr(COALESCE(s.finished_at, s.started_at), 1, 10) AS day
              FROM steps s JOIN runs r ON r.id = s.run_id WHERE {where})
     WHERE what IS NOT NULL GROUP BY 1, 2, 3, 4
    ON CONFLICT (what, started, day, issue) DO UPDATE SET n = n + excluded.n;\n"""


def _tiers(sign: str, where: str, attempts: str, merged: str) -> str:
    """Add ``sign`` × ``attempts`` and ``merged`` of the models of the ``Assignment``s picked."""
    return f"""INSERT INTO trend_tiers SELECT substr(r.started_at, 1, 10),
           COALESCE(NULLIF(json_extract(s.outputs, '$.kind'), ''), 'unknown'), m.key, m.value,
           ({sign}) * {attempts}, ({sign}) * {merged}
      FROM steps s JOIN runs r ON r.id = s.run_id CROSS JOIN json_each(s.outputs, '$.models') m
     WHERE {where} AND s.artifact = 'Assignment' AND s.status = 'succeeded'
       AND r.workflow = 'implement' GROUP BY 1, 2, 3, 4
    ON CONFLICT (started, kind, role, model) DO UPDATE
       SET attempts = attempts + excluded.attempts, merged = merged + excluded.merged;\n"""


def _landed(sign: str, where: str) -> str:
    """Add ``sign`` × the pairs of a merged ``Landing`` and a ``ValidationTarget`` of one run
    (``l``, ``t``) to the implement run ``t`` names: one with pairs is one whose change landed."""
    return f"""INSERT INTO trend_landed SELECT json_extract(t.outputs, '$.implement_run'),
           {sign} * COUNT(*)
      FROM steps l JOIN steps t ON t.run_id = l.run_id AND t.artifact = 'ValidationTarget'
     WHERE {where} AND l.artifact = 'Landing' AND l.status = 'succeeded' AND l.says
       AND t.status = 'succeeded' AND json_extract(t.outputs, '$.implement_run') IS NOT NULL
     GROUP BY 1 ON CONFLICT (run_id) DO UPDATE SET pairs = pairs + excluded.pairs;\n"""


def _spend(where: str) -> str:
    return f"""INSERT INTO issue_spend SELECT r.issue, SUM(c.cost_usd) FROM model_calls c
      JOIN runs r ON r.id = c.run_id WHERE {where} AND r.issue IS NOT NULL
     GROUP BY 1 ON CONFLICT (issue) DO UPDATE SET usd = usd + excluded.usd;\n"""


# a rebase (an attempt taken up again on a production that moved under it) is no attempt of
# its own: its landing counts for the models that wrote the change
_ATTEMPTS = (
    "SUM(COALESCE(json_extract(s.outputs, '$.previous.conflict'), '') = '')",
    "SUM(EXISTS (SELECT 1 FROM trend_landed WHERE run_id = r.id AND pairs))",
)


def _step(sign: str, row: str) -> str:
    """What step ``row`` (NEW or OLD) counts, added (sign 1) or taken away (-1)."""
    one = f"s.seq = {row}.seq"
    pair = f"l.run_id = {row}.run_id AND {row}.seq IN (l.seq, t.seq)"
    return _counts(sign, one) + _tiers(sign, one, *_ATTEMPTS) + _landed(sign, pair)


_MATTERS = (  # a step that counts (a failed one: an untyped merge's)
    "({0}.status = 'failed' OR {0}.artifact IN ('Landing', 'Smoke', 'Validation', 'IssueSpec',"
    " 'GateReport', 'Assignment', 'ValidationTarget'))"
).format
_FLIP = "s.run_id = NEW.run_id", "0", "COUNT(*)"  # every attempt of a run that (un)landed
TRIGGERS = f"""
CREATE TRIGGER trends_step_added AFTER INSERT ON steps WHEN {_MATTERS("NEW")}
BEGIN {_step("1", "NEW")} END;
CREATE TRIGGER trends_step_changing BEFORE UPDATE ON steps WHEN {_MATTERS("OLD")}
BEGIN {_step("-1", "OLD")} END;
CREATE TRIGGER trends_step_changed AFTER UPDATE ON steps WHEN {_MATTERS("NEW")}
BEGIN {_step("1", "NEW")} END;
CREATE TRIGGER trends_landed AFTER INSERT ON trend_landed WHEN NEW.pairs > 0
BEGIN {_tiers("1", *_FLIP)} END;
CREATE TRIGGER trends_landed_changed AFTER UPDATE ON trend_landed WHEN (OLD.pairs > 0) !=
(NEW.pairs > 0) BEGIN {_tiers("2 * (NEW.pairs > 0) - 1", *_FLIP)} END;
CREATE TRIGGER trends_spent AFTER INSERT ON model_calls BEGIN {_spend("c.id = NEW.id")} END;
"""


TABLES = """CREATE TABLE trend_counts (what, started, day, issue, n,
                                   PRIMARY KEY (what, started, day, issue));
CREATE TABLE trend_tiers (started, kind, role, model, attempts, merged,
                          PRIMARY KEY (started, kind, role, model));
CREATE TABLE trend_landed (run_id TEXT PRIMARY KEY, pairs);
CREATE TABLE issue_spend (issue INTEGER PRIMARY KEY, usd);
"""


def install(db: sqlite3.Connection) -> None:
    """The tables (made anew), every step and call counted, then the triggers (in the
    caller's transaction)."""
    recreate(db, TABLES + _landed("1", "1") + _tiers("1", "1", *_ATTEMPTS))
    recreate(db, _counts("1", "1") + _spend("1") + TRIGGERS)


_DAILY = f"""
WITH merged AS (SELECT day, issue, SUM(n) AS n FROM trend_counts
                 WHERE what = 'merge' AND started >= :since GROUP BY 1, 2),
kept AS (SELECT day, COUNT(*) AS issues, SUM(COALESCE(p.usd, 0)) AS usd
           FROM merged LEFT JOIN issue_spend p USING (issue)
          WHERE n > 0 AND issue != 0 AND issue NOT IN (SELECT issue FROM trend_counts
                WHERE what = '{REVERTED}' AND started >= :since AND n > 0) GROUP BY 1)
SELECT day, SUM(n), COALESCE(MAX(kept.usd / kept.issues), 0.0)
  FROM merged LEFT JOIN kept USING (day) GROUP BY 1 HAVING SUM(n) > 0
"""


class TrendsMixin(StoreBase):
    def tier_success(self, since: str = "") -> list[TierRow]:
        """Per issue kind, role and model (``models.escalate``'s tiers): the implement
        attempts started since the day ``since`` that called it, and how many of their changes
        merged (a validation of it kept a ``Landing`` that merged)."""
        rows = self._rows(
            "SELECT kind, role, model, SUM(attempts), SUM(merged) FROM trend_tiers"
            " WHERE started >= ? GROUP BY 1, 2, 3 HAVING SUM(attempts) > 0 ORDER BY 1, 2, 3",
            (since,),
        )
        return [TierRow(kind=k, role=r, model=m, attempts=a, merged=n) for k, r, m, a, n in rows]

    def daily_merges(self, since: str) -> dict[str, tuple[int, float]]:
        """day -> (merges that day, the mean spend of the issues merged that day and not
        reverted since), for validate runs started since the day ``since``."""
        rows = self._rows(_DAILY, {"since": since})
        return {str(r[0]): (int(r[1]), round(float(r[2]), 6)) for r in rows}

    def refusals(self, since: str) -> dict[str, int]:
        """Why changes were refused, and how often, in runs started since the day ``since``:
        reverted on production, a validation route or a triage decision that is a refusal
        (``NOT_REFUSED`` says which are not: a change waiting for review, an issue waiting
        for its author or a later day), implementation gates that failed."""
        rows = self._rows(
            "SELECT what, SUM(n) FROM trend_counts WHERE (what < 'merge' OR what > 'merge')"
            " AND started >= ? GROUP BY 1 HAVING SUM(n) > 0",
            (since,),
        )
        return {str(r[0]): int(r[1]) for r in rows}
