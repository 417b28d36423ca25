"""What the runs came to, kept by the database itself as runs finish: ``issue_outcomes``,
``change_evidence`` and ``issue_latest``, each row recomputed by a trigger in the write's
transaction (docs/architecture.md, "What the store keeps by trigger", says what each holds)."""

from __future__ import annotations

import json
import sqlite3
from types import MappingProxyType
from typing import cast

from harness.store.base import StoreBase, execute_script, recreate
from harness.store.records import KindTally, Said

HUMAN_REJECT = "human.reject"
HUMAN_APPROVE = "human.approve"
# kind.startswith('human.'), every event a person's action records: by the index on kind,
# and (with "+") not by it, where the index on the issue serves better
_HUMAN_KINDS = "kind >= 'human.' AND kind < 'human/'"
_HUMAN_RANGE = "+kind >= 'human.' AND +kind < 'human/'"


def truthy(column: str, key: str) -> str:
    """SQL for Python's ``bool(outputs.get(key))`` on a JSON column."""
    return f"COALESCE(json_extract({column}, '$.{key}'), 0) NOT IN (0, '', '[]', '{{}}')"


# the action that makes each type these tables read: what an untyped older record was
MADE_BY = MappingProxyType(
    {
        "IssueSpec": "triage.apply",
        "ValidationTarget": "validate.prepare",
        "Validation": "validate.decide",
        "Landing": "validate.merge",
        "Smoke": "validate.smoke",
        "GateReport": "implement.gates",
    }
)


def made_by(action: str, step: str = "s") -> str:
    """SQL: step ``step`` ran ``action``."""
    return f"json_extract({step}.inputs, '$.action') = '{action}'"


def kept(artifact: str, step: str = "s") -> str:
    """SQL: step ``step`` kept an ``artifact`` (or is an untyped older record of its action)."""
    older = f"{step}.artifact IS NULL AND {made_by(MADE_BY[artifact], step)}"
    return f"({step}.artifact = '{artifact}' OR ({older}))"


def _last(artifact: str, run: str) -> str:
    """The newest succeeded step of run ``run`` that kept an ``artifact``."""
    return (
        f"(SELECT MAX(seq) FROM steps l WHERE l.run_id = {run} AND {kept(artifact, 'l')}"
        " AND l.status = 'succeeded')"
    )


FAILED_MERGE = f"s.status = 'failed' AND {made_by('validate.merge')}"


def _finished_at(i: str) -> str:
    """When issue ``i`` last reached a final state (NULL: never)."""
    return f"""(SELECT MAX(ts) FROM (
        SELECT s.finished_at AS ts FROM runs r CROSS JOIN steps s ON s.run_id = r.id
         WHERE r.issue = {i} AND r.workflow = 'triage' AND r.status = 'succeeded'
           AND {kept("IssueSpec")} AND s.status = 'succeeded'
           AND json_extract(s.outputs, '$.decision') = 'reject'
        UNION ALL
        SELECT s.finished_at FROM runs r
          JOIN steps s ON s.seq = {_last("Smoke", "r.id")}
         WHERE r.issue = {i} AND r.workflow = 'validate'
           AND NOT {truthy("s.outputs", "reverted")}
           AND {_last("Landing", "r.id")} IS NOT NULL
        UNION ALL
        SELECT ts FROM events
         WHERE json_extract(data, '$.issue') = +{i} AND +kind = '{HUMAN_REJECT}'
    ) WHERE ts > '')"""


def _evidence(runs: str) -> str:
    """The evidence rows of the validate runs ``r`` that the condition ``runs`` selects."""
    validated = f"""(SELECT r.id AS run_id, r.issue AS issue,
           COALESCE(NULLIF(COALESCE(json_extract(p.outputs, '$.candidate.spec.kind'),
                                    json_extract(p.outputs, '$.spec.kind')), ''),
                    'unknown') AS kind,
           json_extract(p.outputs, '$.head') AS head
      FROM runs r JOIN steps p ON p.seq = {_last("ValidationTarget", "r.id")}
     WHERE r.workflow = 'validate' AND {runs})"""
    approved = f"""(SELECT ts FROM events WHERE json_extract(data, '$.issue') = +v.issue
           AND +kind = '{HUMAN_APPROVE}' AND json_extract(data, '$.head') IS v.head
         ORDER BY id DESC LIMIT 1)"""
    return f"""
    SELECT v.run_id, v.issue, v.kind, 'revert', COALESCE(s.finished_at, ''), NULL
      FROM {validated} v CROSS JOIN steps s ON s.run_id = v.run_id
     WHERE {FAILED_MERGE} AND {truthy("s.outputs", "landed_tree")}
    UNION ALL
    SELECT v.run_id, v.issue, v.kind,
           CASE WHEN {truthy("sm.outputs", "reverted")} THEN 'regression'
                WHEN {approved} <= COALESCE(sm.finished_at, '') THEN 'approved_green'
                ELSE 'green' END,
           COALESCE(sm.finished_at, ''), json_extract(m.outputs, '$.merge_sha')
      FROM {validated} v
      JOIN steps m ON m.seq = {_last("Landing", "v.run_id")}
      JOIN steps sm ON sm.seq = {_last("Smoke", "v.run_id")}"""


TABLES = """
CREATE TABLE issue_outcomes (
    issue INTEGER PRIMARY KEY,
    kind TEXT,
    finished_at TEXT,
    touched INTEGER NOT NULL
);
CREATE INDEX issue_outcomes_finished ON issue_outcomes (finished_at, kind, touched);
CREATE TABLE change_evidence (
    run_id TEXT NOT NULL,
    issue INTEGER,
    kind TEXT NOT NULL,
    what TEXT NOT NULL,
    ts TEXT NOT NULL,
    merge_sha TEXT
);
CREATE INDEX change_evidence_run ON change_evidence (run_id);
CREATE INDEX change_evidence_kind ON change_evidence (kind, what, ts);
CREATE INDEX change_evidence_merge ON change_evidence (merge_sha) WHERE merge_sha IS NOT NULL;
CREATE TABLE issue_latest (
    issue INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    route TEXT,
    decision TEXT,
    reason TEXT
);
"""


def _upsert_issues(source: str) -> str:
    """Recompute ``issue_outcomes`` for the issues (column ``i``) the query ``source`` gives."""
    return f"""
    INSERT INTO issue_outcomes (issue, kind, finished_at, touched)
    SELECT i,
           (SELECT json_extract(s.outputs, '$.kind') FROM runs r CROSS JOIN steps s
              ON s.run_id = r.id WHERE r.issue = i AND r.status = 'succeeded'
               AND +s.artifact = 'IssueSpec' AND s.status = 'succeeded'
             ORDER BY s.seq DESC LIMIT 1),
           {_finished_at("i")},
           EXISTS (SELECT 1 FROM events WHERE json_extract(data, '$.issue') = +i
                      AND {_HUMAN_RANGE})
      FROM ({source}) WHERE i IS NOT NULL
    ON CONFLICT (issue) DO UPDATE SET kind = excluded.kind,
       finished_at = excluded.finished_at, touched = excluded.touched;"""


def _refresh_issue(issue: str) -> str:
    return _upsert_issues(f"SELECT {issue} AS i")


_LATEST = ("route", "decision", "reason")  # what ``issue_latest`` shows of a run's steps


def _says(row: str) -> str:
    """Whether step ``row``'s outputs may hold a value ``issue_latest`` shows (a key of ``_LATEST``
    at any depth): a step naming none skips the recomputation, which reads every step of its run."""
    return " OR ".join(f"instr({row}.outputs, '\"{key}\"')" for key in _LATEST)


def _said(key: str) -> str:
    """The newest value of ``key`` in run ``r``'s step outputs (not null, empty or ``[]``)."""
    return f"""(SELECT value FROM (SELECT json_extract(outputs, '$.{key}') AS value
        FROM steps WHERE run_id = r.id ORDER BY seq DESC)
        WHERE COALESCE(value, '') NOT IN ('', '[]') LIMIT 1)"""


def _upsert_latest(source: str) -> str:
    """Recompute ``issue_latest`` for the issues (column ``i``) the query ``source`` gives."""
    return f"""
    INSERT INTO issue_latest (issue, run_id, route, decision, reason)
    SELECT i, r.id, {", ".join(_said(key) for key in _LATEST)}
      FROM ({source}) JOIN runs r ON r.rowid = (SELECT rowid FROM runs WHERE issue = i
                                                 ORDER BY started_at DESC, rowid DESC LIMIT 1)
     WHERE i IS NOT NULL
    ON CONFLICT (issue) DO UPDATE SET run_id = excluded.run_id, route = excluded.route,
       decision = excluded.decision, reason = excluded.reason;"""


def _refresh_evidence(column: str, value: str) -> str:
    """Recompute ``change_evidence`` for the validate runs whose ``column`` is ``value``."""
    runs = "id" if column == "run_id" else column
    return f"""
    DELETE FROM change_evidence WHERE {column} = {value};
    INSERT INTO change_evidence {_evidence(f"r.{runs} = {value}")};"""


_READ = ("IssueSpec", "ValidationTarget", "Landing", "Smoke")  # what these tables read
_STEP_MATTERS = (
    f"NEW.artifact IN {_READ} OR json_extract(NEW.inputs, '$.action')"
    f" IN {tuple(MADE_BY[kind] for kind in _READ)}"
)
_RUN_ISSUE = "(SELECT issue FROM runs WHERE id = NEW.run_id)"

_HUMAN_ISSUE = "json_extract(NEW.data, '$.issue')"

TRIGGERS = f"""
CREATE TRIGGER outcomes_step_added AFTER INSERT ON steps WHEN {_STEP_MATTERS}
BEGIN {_refresh_issue(_RUN_ISSUE)} {_refresh_evidence("run_id", "NEW.run_id")} END;
CREATE TRIGGER outcomes_step_changed AFTER UPDATE ON steps WHEN {_STEP_MATTERS}
BEGIN {_refresh_issue(_RUN_ISSUE)} {_refresh_evidence("run_id", "NEW.run_id")} END;
CREATE TRIGGER outcomes_run_changed AFTER UPDATE OF status, issue ON runs
BEGIN {_refresh_issue("OLD.issue")} {_refresh_issue("NEW.issue")} END;
CREATE TRIGGER outcomes_human AFTER INSERT ON events
WHEN NEW.kind >= 'human.' AND NEW.kind < 'human/'
BEGIN {_refresh_issue(_HUMAN_ISSUE)} END;
CREATE TRIGGER outcomes_approval AFTER INSERT ON events WHEN NEW.kind = '{HUMAN_APPROVE}'
BEGIN {_refresh_evidence("issue", _HUMAN_ISSUE)} END;
CREATE TRIGGER latest_step_added AFTER INSERT ON steps WHEN {_says("NEW")}
BEGIN {_upsert_latest(f"SELECT {_RUN_ISSUE} AS i")} END;
CREATE TRIGGER latest_step_changed AFTER UPDATE OF outputs ON steps
WHEN {_says("NEW")} OR {_says("OLD")}
BEGIN {_upsert_latest(f"SELECT {_RUN_ISSUE} AS i")} END;
CREATE TRIGGER latest_run_added AFTER INSERT ON runs
BEGIN {_upsert_latest("SELECT NEW.issue AS i")} END;
"""


def install(db: sqlite3.Connection) -> None:
    """(Re)create the tables and triggers, and fill the tables from every issue and
    run there is: inside the caller's transaction, so a crash leaves nothing half made."""
    recreate(db, TABLES + TRIGGERS)
    every_issue = (
        "SELECT issue AS i FROM runs UNION"
        f" SELECT json_extract(data, '$.issue') FROM events WHERE {_HUMAN_KINDS}"
    )
    execute_script(db, _upsert_issues(every_issue))
    db.execute(f"INSERT INTO change_evidence {_evidence('1')}")
    execute_script(db, _upsert_latest("SELECT DISTINCT issue AS i FROM runs"))


OUTCOMES = (
    "merged",
    "pr_opened",
    "accepted",
    "rejected",
    "needs_info",
    "needs_human",
    "needs_review",
    "holdout_conflict",
    "retry",
    "failed",
    "reverted",
    "flaky",
    "environment",
    "deferred",
)
# a triage decision or validation route that refuses nothing: the work goes on, or waits for
# its author, a later day or a person's review (every view counts it so: the Trends page too)
NOT_REFUSED = ("accept", "merge", "needs_info", "deferred", "needs_review")
_DECIDED = MappingProxyType(
    {"accept": "accepted", "reject": "rejected", "needs_info": "needs_info"}
)


def outcome_word(
    workflow: str,
    status: str,
    *,
    decision: str | None = None,
    pr: bool,
    route: str | None,
    landed: bool,
    reverted: bool,
    healed: str | None = None,
) -> str | None:
    """What became of the work of one run (one of ``OUTCOMES``; None while it runs, when it
    stopped, or when it decided nothing about an issue): the one rule for ``factory runs``,
    the live line, the cycle's table and the dashboard. ``status`` says whether the run
    itself finished; a validation that did not land a change is never "succeeded" to a
    reader: its outcome is where the change went (``needs_review``, ``holdout_conflict``…),
    and a merge its smoke run reverted goes back to implementation (``retry``); a heal says
    what it made of red production (``healed``: ``reverted``, ``flaky``, ``environment``,
    ``needs_human``)."""
    if status == "failed":
        return "failed"
    if status != "succeeded":
        return None
    if workflow == "heal":
        return healed if healed in OUTCOMES else None
    if workflow == "validate":
        if landed:
            return "retry" if reverted else "merged"
        return route if route in OUTCOMES else None
    if workflow == "implement":
        return "pr_opened" if pr else None
    if workflow == "triage":
        return _DECIDED.get(decision or "", decision if decision in OUTCOMES else None)
    return None


Worded = tuple[str | None, str | None]  # a run's outcome word, and its route's reason
INTERRUPTED = "interrupted by Ctrl-C"  # in the reason of a run a signal stopped
CANCELLED = "cancelled by "  # the start of the reason of a run a person's cancel ended


def ended(outcome: str | None, status: str, reason: str | None) -> str | None:
    """A run's outcome, ``interrupted`` for a run a signal stopped (``factory run``'s
    Ctrl-C: run again, it resumes), or ``cancelled`` for one a person's ``factory cancel``
    ended (``factory retry`` takes its issue back)."""
    if status == "stopped" and INTERRUPTED in (reason or ""):
        return "interrupted"
    return "cancelled" if status == "failed" and (reason or "").startswith(CANCELLED) else outcome


def shown(outcome: str | None, status: str) -> str:
    """A run's word in a table or a line: its outcome, else its own status."""
    return outcome or status


class OutcomesMixin(StoreBase):
    """Reads of the outcome tables and of the runs' counts: each one statement, whose cost
    follows what it returns (a window, a page, the kinds), not how many runs there are."""

    def run_counts(self) -> dict[str, int]:
        """How many runs that do work are in each status (``list_runs``), at any size."""
        rows = self._rows(
            "SELECT status, COUNT(*) FROM runs WHERE NOT orchestrates"
            " GROUP BY status ORDER BY status"
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def finished_by_kind(self, since: str, until: str) -> dict[str, tuple[int, int]]:
        """kind -> (issues whose last final state fell in [since, until], how many of them
        no person touched); an issue without a kind counts as ``unknown``."""
        rows = self._rows(
            "SELECT COALESCE(NULLIF(kind, ''), 'unknown'), COUNT(*), SUM(touched = 0)"
            " FROM issue_outcomes WHERE finished_at BETWEEN ? AND ? GROUP BY 1",
            (since, until),
        )
        return {str(r[0]): (int(r[1]), int(r[2])) for r in rows}

    def finished_per_day(self, since: str, until: str) -> dict[tuple[str, bool], tuple[int, int]]:
        """(day, at its very end) -> (issues whose last final state fell then and in [since,
        until], how many of them no person touched), a day ending at ``until``'s time of day
        (``since`` the same): one scan of the window's index, a row a day."""
        rows = self._rows(
            "SELECT CASE WHEN finished_at > substr(finished_at, 1, 10) || :end"
            " THEN date(substr(finished_at, 1, 10), '+1 day') ELSE substr(finished_at, 1, 10) END,"
            " finished_at = substr(finished_at, 1, 10) || :end, COUNT(*), SUM(touched = 0)"
            " FROM issue_outcomes WHERE finished_at BETWEEN :since AND :until GROUP BY 1, 2",
            {"since": since, "until": until, "end": until[10:]},
        )
        return {(str(r[0]), bool(r[1])): (int(r[2]), int(r[3])) for r in rows}

    def latest_said(self, issues: list[int]) -> dict[int, Said]:
        """Each issue's newest run (``run_id``, ``workflow``, ``status``, ``run_reason``)
        and the newest ``route``, ``decision`` and ``reason`` its steps gave."""
        rows = self._rows(
            "SELECT l.issue, l.run_id, r.workflow, r.status, r.reason AS run_reason, l.route,"
            " l.decision, l.reason FROM json_each(?) j JOIN issue_latest l ON l.issue = j.value"
            " JOIN runs r ON r.id = l.run_id",
            (json.dumps(issues),),
        )
        return {int(r["issue"]): cast(Said, dict(r)) for r in rows}

    def run_outcomes(self, runs: list[tuple[str, str, str]]) -> dict[str, Worded]:
        """``outcome_word`` for each ``(run id, workflow, status)``, and a validation's route's
        reason, from the typed records its succeeded steps kept: one query, however many runs."""
        rows = self._rows(
            "SELECT s.run_id, s.artifact, json_extract(s.outputs, '$.decision') AS decision,"
            " json_extract(s.outputs, '$.route') AS route,"
            " json_extract(s.outputs, '$.reason') AS why,"
            " json_extract(s.outputs, '$.reverted') AS reverted,"
            " json_extract(s.outputs, '$.outcome') AS healed"
            " FROM json_each(?) j JOIN steps s ON s.run_id = j.value"
            " WHERE s.status = 'succeeded' AND s.artifact IN"
            " ('IssueSpec', 'PrCandidate', 'Validation', 'Landing', 'Smoke', 'Healed')"
            " ORDER BY s.seq",
            (json.dumps([run_id for run_id, _, _ in runs]),),
        )
        kept: dict[str, dict[str, sqlite3.Row]] = {}
        for r in rows:  # by seq: the newest of each type wins
            kept.setdefault(str(r["run_id"]), {})[str(r["artifact"])] = r
        out: dict[str, Worded] = {}
        for run_id, workflow, status in runs:
            got = kept.get(run_id, {})
            spec = got.get("IssueSpec")
            decided = got.get("Validation")
            smoke = got.get("Smoke")
            word = outcome_word(
                workflow,
                status,
                decision=spec["decision"] if spec else None,
                pr="PrCandidate" in got,
                route=decided["route"] if decided else None,
                landed="Landing" in got,
                reverted=bool(smoke and smoke["reverted"]),
                healed=got["Healed"]["healed"] if "Healed" in got else None,
            )
            out[run_id] = (word, decided["why"] if decided else None)
        return out

    def heal_runs(self, issue: int) -> list[str]:
        """The heal runs whose ``Healed`` names ``issue`` (the regression or person issue it
        filed, the culprit's issue): a heal run is about production, not about one issue."""
        rows = self._rows(
            "SELECT DISTINCT r.id FROM runs r JOIN steps s ON s.run_id = r.id WHERE r.workflow ="
            " 'heal' AND s.artifact = 'Healed' AND s.status = 'succeeded' AND ? IN"
            " (json_extract(s.outputs, '$.regression_issue'), json_extract(s.outputs,"
            " '$.person_issue'), json_extract(s.outputs, '$.culprit_issue'))",
            (issue,),
        )
        return [str(r[0]) for r in rows]

    def heals_for_a_person(self, since: str, until: str) -> int:
        """Heal runs finished in [since, until] that left red production to a person."""
        row = self._row(
            "SELECT COUNT(*) FROM runs r JOIN steps s ON s.run_id = r.id WHERE r.workflow ="
            " 'heal' AND r.finished_at BETWEEN ? AND ? AND s.artifact = 'Healed' AND"
            " s.status = 'succeeded' AND json_extract(s.outputs, '$.outcome') IN"
            " ('needs_human', 'environment')",
            (since, until),
        )
        return int(row[0]) if row else 0

    def landed(self, merge_sha: str) -> tuple[int, str] | None:
        """(issue, kind of change) of the change the factory landed as ``merge_sha``, from
        its own records (None: a commit it did not land)."""
        row = self._row(
            "SELECT issue, kind FROM change_evidence WHERE merge_sha = ? LIMIT 1", (merge_sha,)
        )
        return (int(row[0]), str(row[1])) if row and row[0] is not None else None

    def trust_tallies(self) -> dict[str, KindTally]:
        """Per kind of change, what earned trust counts (``KindTally``), from the factory's
        own records alone: a merge that heal reverted (``Healed``, its culprit) is a
        ``revert`` of its kind, whatever any commit message says."""
        rows = self._rows(_TALLIES)
        return {
            str(r["kind"]): KindTally(
                kind=str(r["kind"]),
                newest={w: r[w] for w in ("regression", "revert") if r[w] is not None},
                approved_after={
                    None: int(r["total"]),
                    **({r["regression"]: int(r["after_regression"])} if r["regression"] else {}),
                    **({r["revert"]: int(r["after_revert"])} if r["revert"] else {}),
                },
            )
            for r in rows
        }


_TALLIES = """
WITH ev (kind, what, ts) AS (
    SELECT kind, what, ts FROM change_evidence
    UNION ALL
    SELECT c.kind, 'revert', MAX(h.finished_at, c.ts) FROM steps h
      JOIN change_evidence c ON c.merge_sha = json_extract(h.outputs, '$.culprit')
       AND c.what IN ('green', 'approved_green')
     WHERE h.artifact = 'Healed' AND h.status = 'succeeded'
       AND json_extract(h.outputs, '$.outcome') = 'reverted'
),
marks (kind, regression, revert) AS (
    SELECT kind, MAX(CASE WHEN what = 'regression' THEN ts END),
           MAX(CASE WHEN what = 'revert' THEN ts END)
      FROM ev GROUP BY kind
)
SELECT m.kind AS kind, m.regression AS regression, m.revert AS revert,
       COUNT(e.ts) AS total,
       COUNT(e.ts) FILTER (WHERE e.ts > m.regression) AS after_regression,
       COUNT(e.ts) FILTER (WHERE e.ts > m.revert) AS after_revert
  FROM marks m LEFT JOIN ev e ON e.kind = m.kind AND e.what = 'approved_green'
 GROUP BY m.kind ORDER BY m.kind
"""
