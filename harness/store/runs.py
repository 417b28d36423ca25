"""Runs and their steps."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Mapping
from typing import TYPE_CHECKING

from harness.errors import NotFoundError
from harness.store.base import StoreBase, dumps, from_row, loads, stored, stored_text, utc_now
from harness.store.ledger import chain
from harness.store.records import Run, StepEvent, StepRecord

if TYPE_CHECKING:
    from harness.artifacts import A

_FINAL = ("succeeded", "failed")


def _run(row: sqlite3.Row) -> Run:
    return from_row(Run, row, json=("inputs", "governance"))


def _step(row: sqlite3.Row) -> StepRecord:
    return from_row(StepRecord, row, json=("inputs", "outputs"))


class RunsMixin(StoreBase):
    def create_run(
        self,
        workflow: str,
        issue: int | None,
        inputs: Mapping[str, object],
        governance: dict[str, str],
        parent: tuple[str, str] | None = None,
    ) -> Run:
        """A new run; ``parent``: the run and the step that start it (a ``workflow:`` step)."""
        run_id = "r-" + secrets.token_hex(5)
        self._write(
            "INSERT INTO runs (id, workflow, issue, status, inputs, governance, started_at)"
            " VALUES (?, ?, ?, 'running', ?, ?, ?)",
            (run_id, workflow, issue, stored(inputs), dumps(governance), utc_now()),
        )
        if parent is not None:
            self.set_parent(run_id, *parent)
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> Run:
        row = self._row("SELECT * FROM runs WHERE id = ?", (run_id,))
        if row is None:
            raise NotFoundError(f"run {run_id} does not exist (see 'factory runs')")
        return _run(row)

    def find_open_run(self, workflow: str, issue: int | None) -> Run | None:
        """The newest unfinished (running or stopped) run of ``workflow`` for ``issue``."""
        row = self._row(
            "SELECT * FROM runs WHERE workflow = ? AND issue IS ?"
            " AND status IN ('running','stopped')"
            " ORDER BY started_at DESC, rowid DESC LIMIT 1",
            (workflow, issue),
        )
        return _run(row) if row else None

    def open_runs(self, workflow: str) -> list[Run]:
        """Every unfinished (running or stopped) run of ``workflow``, oldest first: found by
        their status (few), not among every run of the workflow."""
        rows = self._rows(
            "SELECT * FROM runs WHERE +workflow = ? AND status IN ('running','stopped')"
            " ORDER BY started_at, rowid",
            (workflow,),
        )
        return [_run(row) for row in rows]

    def set_parent(self, run_id: str, parent: str, step: str) -> None:
        """Run ``run_id`` is the child of ``parent``'s step ``step`` (started or resumed by it)."""
        self._write(
            "UPDATE runs SET parent = ?, parent_step = ? WHERE id = ?", (parent, step, run_id)
        )

    def children(self, parent: str, step: str) -> list[Run]:
        """The runs ``parent``'s ``workflow:`` step ``step`` started or took up, oldest first."""
        rows = self._rows(
            "SELECT * FROM runs WHERE parent = ? AND parent_step = ? ORDER BY started_at, rowid",
            (parent, step),
        )
        return [_run(row) for row in rows]

    def set_run_status(
        self,
        run_id: str,
        status: str,
        reason: str | None = None,
        not_before: float | None = None,
        event: bool = False,
    ) -> None:
        """``event``: the ``run.<status>`` event is written in the same transaction, its data
        the ``reason`` (if any)."""
        finished = utc_now() if status in _FINAL else None
        payload = stored({} if reason is None else {"reason": reason}) if event else None
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET status = ?, reason = ?, not_before = ?, finished_at = ?"
                " WHERE id = ?",
                (status, stored_text(reason), not_before, finished, run_id),
            )
            if payload is not None:
                chain(db, run_id, f"run.{status}", payload)

    def list_runs(
        self,
        limit: int | None,
        workflow: str | None = None,
        issue: int | None = None,
        status: str | None = None,
        day: str | None = None,
        offset: int = 0,
    ) -> list[Run]:
        """Runs newest first, filtered (``day``: ``YYYY-MM-DD``, UTC, of the start), one
        page of ``limit`` (None: all) after ``offset``: by index, however many runs there are.
        Without ``workflow``, the runs that do work: a run that only ran others (a cycle's, its
        stages') is listed when its workflow is asked for by name."""
        filters, args = self._where(
            ("workflow = ?", workflow),
            ("NOT orchestrates", () if workflow is None else None),  # ran others: m015
            ("issue = ?", issue),
            ("status = ?", status),
            # every time of that day sorts between the day and the day followed by "U"
            ("started_at >= ? AND started_at < ?", None if day is None else (day, day + "U")),
        )
        page = " ORDER BY started_at DESC, rowid DESC LIMIT ? OFFSET ?"
        args += (-1 if limit is None else limit, offset)
        return [_run(r) for r in self._rows("SELECT * FROM runs" + filters + page, args)]

    # -- steps ----------------------------------------------------------------
    def start_step(
        self, run_id: str, step_id: str, inputs: Mapping[str, object], runs: bool = True
    ) -> int:
        """A step begins: its record, and the run's current step unless it does not ``run``
        (skipped by its condition: the step shown is the last one that ran)."""
        # made before the write lock is taken
        data = stored(inputs)
        now = utc_now()
        with self.transaction() as db:
            cur = db.execute(  # its attempt: one more than the step's records in the run
                "INSERT INTO steps (run_id, step_id, attempt, status, inputs, started_at)"
                " SELECT ?, ?, COUNT(*) + 1, 'running', ?, ? FROM steps"
                " WHERE run_id = ? AND step_id = ?",
                (run_id, step_id, data, now, run_id, step_id),
            )
            if runs:
                db.execute("UPDATE runs SET current_step = ? WHERE id = ?", (step_id, run_id))
            return int(cur.lastrowid or 0)

    def finish_step(
        self,
        seq: int,
        status: str,
        outputs: Mapping[str, object],
        error: str | None = None,
        model_s: float = 0.0,
        subprocess_s: float = 0.0,
        artifact: str | None = None,
        error_kind: str | None = None,
        event: StepEvent | None = None,
    ) -> None:
        """A step ends; ``event``: the data of its ``step.<status>`` event in the audit trail,
        written in the same transaction."""
        now = utc_now()
        payload = stored(event) if event is not None else None
        out = stored(outputs)
        err = stored_text(error)
        args = (status, out, err, now, now, model_s, subprocess_s, artifact, error_kind, seq)
        with self.transaction() as db:
            run = db.execute(
                "UPDATE steps SET status = ?, outputs = ?, error = ?, finished_at = ?,"
                " duration_s = (julianday(?) - julianday(started_at)) * 86400.0,"
                " model_s = ?, subprocess_s = ?, artifact = ?, error_kind = ? WHERE seq = ?"
                " RETURNING run_id",
                args,
            ).fetchall()  # stepped to its end before anything else runs
            if payload is not None and run:
                chain(db, run[0][0], f"step.{status}", payload)

    def steps(self, run_id: str, after: int = 0) -> list[StepRecord]:
        """The run's steps in order (``after``: only those recorded after step ``seq``)."""
        rows = self._rows(
            "SELECT * FROM steps WHERE run_id = ? AND seq > ? ORDER BY seq", (run_id, after)
        )
        return [_step(r) for r in rows]

    def judged_since(self, since: str, author: str, other_than: int | None) -> int:
        """How many triage runs started at or after ``since`` judged (or queued for judging)
        an issue of ``author`` (as each run's pre-screen read it) other than ``other_than``:
        counted by the database, no step decoded."""
        row = self._row(
            "SELECT COUNT(DISTINCT r.id) FROM runs r"
            " JOIN steps p ON p.run_id = r.id AND p.step_id = 'prescreen'"
            " JOIN steps j ON j.run_id = r.id AND j.step_id = 'judge'"
            " AND j.status IN ('succeeded', 'running', 'interrupted')"
            " WHERE r.workflow = 'triage' AND r.started_at >= ? AND r.issue IS NOT NULL"
            " AND r.issue IS NOT ? AND json_extract(p.outputs, '$.author') = ?",
            (since, other_than, author),
        )
        return int(row[0]) if row is not None else 0

    # -- hand-offs between workflows -------------------------------------------
    def artifacts(
        self,
        kind: type[A],
        issue: int | None,
        run_status: tuple[str, ...] = ("succeeded",),
        limit: int = 20,
    ) -> list[tuple[str, A]]:
        """The persisted ``kind`` artifacts for ``issue``, newest first, each with the id of
        the run that made it; only from runs whose status is one of ``run_status``."""
        marks = ",".join("?" * len(run_status))
        rows = self._rows(
            "SELECT s.run_id AS run_id, s.outputs AS outputs FROM runs r"
            " CROSS JOIN steps s ON s.run_id = r.id"  # the issue's runs first, by index
            " WHERE +s.artifact = ? AND s.status = 'succeeded' AND r.issue IS ?"
            f" AND r.status IN ({marks}) ORDER BY s.seq DESC LIMIT ?",
            (kind.__name__, issue, *run_status, limit),
        )
        return [(str(r["run_id"]), kind.from_outputs(loads(r["outputs"]))) for r in rows]

    def typed_steps(self, kinds: tuple[str, ...]) -> list[tuple[int | None, StepRecord]]:
        """The newest 2,000 steps that kept a record of one of the types ``kinds`` (a succeeded
        step's, or a failed step's typed evidence), of any issue, each with its run's issue."""
        marks = ",".join("?" * len(kinds))
        rows = self._rows(
            "SELECT r.issue AS run_issue, s.* FROM steps s JOIN runs r ON r.id = s.run_id"
            f" WHERE s.artifact IN ({marks}) AND s.status IN ('succeeded', 'failed')"
            " ORDER BY s.seq DESC LIMIT 2000",
            kinds,
        )
        return [(r["run_issue"], _step(r)) for r in rows]

    def latest_artifact(self, kind: type[A], issue: int | None) -> A | None:
        """The newest persisted ``kind`` artifact for ``issue`` from a succeeded run (see
        ``artifacts``)."""
        found = self.artifacts(kind, issue, limit=1)
        return found[0][1] if found else None
