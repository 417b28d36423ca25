"""The dashboard's trends, counted in SQL: merges and the cost of each merged issue per day,
and refusals by reason, over the runs started since a day (by index on workflow and start).
Steps are picked by the type of record they kept (every record since migration ``m005`` has
one; the window is 30 days), and what each says is read from the index beside it (``says``,
migration ``m010``), not from its JSON."""

from __future__ import annotations

from harness.store.base import StoreBase
from harness.store.outcomes import FAILED_MERGE, truthy


def _steps(workflow: str, picked: str, where: str = "1") -> str:
    """The steps ``picked`` (SQL: a condition on ``s``, e.g. ``kept("Smoke")``) of ``workflow``'s
    runs started since ``:since``, their run's issue, what they say and the UTC day they ended."""
    return f"""SELECT r.issue AS issue, s.says AS says, s.status AS status,
           substr(COALESCE(s.finished_at, s.started_at), 1, 10) AS day
      FROM runs r CROSS JOIN steps s ON s.run_id = r.id
     WHERE r.workflow = '{workflow}' AND r.started_at >= :since AND ({picked}) AND {where}"""


def kept(artifact: str) -> str:
    """SQL: step ``s`` kept an ``artifact``."""
    return f"s.artifact = '{artifact}'"


_REVERTED = _steps("validate", kept("Smoke"), "r.issue IS NOT NULL AND s.says")

# a merge step that failed after it merged and kept an untyped record
_UNTYPED_MERGES = _steps(
    "validate", f"s.artifact IS NULL AND {FAILED_MERGE}", truthy("s.outputs", "merge_sha")
)

_DAILY = f"""
WITH merged AS MATERIALIZED ({_steps("validate", kept("Landing"), "s.says")}
                             UNION ALL {_UNTYPED_MERGES}),
kept AS (SELECT DISTINCT day, issue FROM merged
          WHERE issue IS NOT NULL AND issue NOT IN (SELECT issue FROM ({_REVERTED}))),
spent AS (SELECT day, COUNT(*) AS issues,
                 SUM((SELECT COALESCE(SUM(c.cost_usd), 0) FROM runs x
                        JOIN model_calls c ON c.run_id = x.id WHERE x.issue = kept.issue)) AS usd
            FROM kept GROUP BY day)
SELECT m.day, m.merges, COALESCE(spent.usd / spent.issues, 0.0)
  FROM (SELECT day, COUNT(*) AS merges FROM merged GROUP BY day) m LEFT JOIN spent USING (day)
"""

_REFUSALS = f"""
SELECT 'reverted on production', COUNT(*) FROM ({_REVERTED}) HAVING COUNT(*) > 0
UNION ALL
SELECT 'validation: ' || says, COUNT(*) FROM ({_steps("validate", kept("Validation"))})
 WHERE COALESCE(says, '') NOT IN ('', 'merge', 'needs_review') GROUP BY 1
UNION ALL
SELECT 'triage: ' || says, COUNT(*) FROM ({_steps("triage", kept("IssueSpec"))})
 WHERE COALESCE(says, '') NOT IN ('', 'accept') GROUP BY 1
UNION ALL
SELECT 'implementation: gates', COUNT(*) FROM ({_steps("implement", kept("GateReport"))})
 WHERE status = 'failed' OR says IS 0 HAVING COUNT(*) > 0
"""


# each implement attempt's model per role (``Assignment.models``), by the kind of its issue,
# and whether its change landed (a validation of it kept a ``Landing`` that merged)
_TIERS = """
WITH landed AS (SELECT DISTINCT json_extract(t.outputs, '$.implement_run') AS run_id
  FROM steps l JOIN steps t ON t.run_id = l.run_id AND t.artifact = 'ValidationTarget'
 WHERE l.artifact = 'Landing' AND l.status = 'succeeded' AND l.says AND t.status = 'succeeded')
SELECT COALESCE(NULLIF(json_extract(s.outputs, '$.kind'), ''), 'unknown'), m.key, m.value, COUNT(*),
       SUM(r.id IN (SELECT run_id FROM landed))
  FROM runs r JOIN steps s ON s.run_id = r.id AND s.artifact = 'Assignment'
 CROSS JOIN json_each(s.outputs, '$.models') m
 WHERE r.workflow = 'implement' AND r.started_at >= :since AND s.status = 'succeeded'
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""


class TrendsMixin(StoreBase):
    def tier_success(self, since: str = "") -> list[dict[str, object]]:
        """Per issue kind, role and model (``models.escalate``'s tiers): the implement
        attempts started since ``since`` that called it, and how many of their changes merged."""
        rows = self._rows(_TIERS, {"since": since})
        keys = ("kind", "role", "model", "attempts", "merged")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def daily_merges(self, since: str) -> dict[str, tuple[int, float]]:
        """day -> (merges that day, the mean spend of the issues merged that day and not
        reverted since), for validate runs started since ``since``."""
        rows = self._rows(_DAILY, {"since": since})
        return {str(r[0]): (int(r[1]), round(float(r[2]), 6)) for r in rows}

    def refusals(self, since: str) -> dict[str, int]:
        """Why changes were refused, and how often, in runs started since ``since``:
        reverted on production, a validation route other than merge (a change waiting for
        review is not refused), a triage decision other than accept, implementation gates
        that failed."""
        return {str(r[0]): int(r[1]) for r in self._rows(_REFUSALS, {"since": since})}
