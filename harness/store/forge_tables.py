"""The local forge's tables: issues, labels, comments, pull requests, CI results."""

from __future__ import annotations

import sqlite3

from harness.errors import NotFoundError
from harness.forge.base import (
    CLOSED_STATES,
    STATE_LABELS,
    Comment,
    Issue,
    Label,
    PullRequest,
    Queued,
)
from harness.store.base import StoreBase, dumps, from_row, utc_now


def _queued(number: str) -> str:
    """Issue ``number``'s state on the queue (``forge.base.queue_state``): an open issue's
    first ``STATE_LABELS``, else new; a closed one's first ``CLOSED_STATES``, else closed."""
    order = " ".join(f"WHEN '{label}' THEN {n}" for n, label in enumerate(STATE_LABELS))
    return f"""INSERT INTO issue_queue SELECT number, COALESCE((SELECT label FROM issue_labels l
    WHERE l.number = i.number AND label IN {STATE_LABELS} AND (state = 'open' OR label IN
    {CLOSED_STATES}) ORDER BY CASE label {order} END LIMIT 1),
    CASE state WHEN 'open' THEN 'new' ELSE 'closed' END), created_at FROM issues i
    WHERE number = {number} ON CONFLICT (number) DO UPDATE SET state = excluded.state;"""


QUEUE = f"""CREATE TABLE issue_queue (number INTEGER PRIMARY KEY, state TEXT, created_at TEXT);
CREATE INDEX issue_queue_state ON issue_queue (state, created_at, number);
{_queued("number")}
CREATE TRIGGER queue_filed AFTER INSERT ON issues BEGIN {_queued("NEW.number")} END;
CREATE TRIGGER queue_reopened AFTER UPDATE OF state ON issues BEGIN {_queued("NEW.number")} END;
CREATE TRIGGER queue_labelled AFTER INSERT ON issue_labels BEGIN {_queued("NEW.number")} END;
CREATE TRIGGER queue_unlabelled AFTER DELETE ON issue_labels BEGIN {_queued("OLD.number")} END;
"""


def _pr(row: sqlite3.Row) -> PullRequest:
    return from_row(PullRequest, row)


class ForgeTablesMixin(StoreBase):
    # -- issues ---------------------------------------------------------------
    def _issues(self, where: str = "", args: tuple[object, ...] = ()) -> list[Issue]:
        """Issues with their labels, in two queries however many there are."""
        rows = self._rows(f"SELECT * FROM issues {where} ORDER BY number", args)
        labels = self._labels([row["number"] for row in rows])
        return [
            from_row(Issue, row, labels=tuple(labels.get(row["number"], ())), comment_count=None)
            for row in rows
        ]

    def insert_issue(self, title: str, body: str, author: str) -> Issue:
        now = utc_now()
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO issues (title, body, author, state, created_at, updated_at)"
                " VALUES (?, ?, ?, 'open', ?, ?)",
                (title, body, author, now, now),
            )
            number = int(cur.lastrowid or 0)
        return self.issue(number)

    def issue(self, number: int) -> Issue:
        found = self._issues("WHERE number = ?", (number,))
        if not found:
            raise NotFoundError(f"issue {number} does not exist")
        return found[0]

    def issues(self, state: str = "open") -> list[Issue]:
        return self._issues() if state == "all" else self._issues("WHERE state = ?", (state,))

    def ready_issues(self) -> list[Queued]:
        """The open issues accepted or in progress on the queue, with their labels, by index
        (their texts are not read)."""
        ready = (
            f"SELECT number FROM issue_queue WHERE state IN {(Label.ACCEPTED, Label.IN_PROGRESS)}"
        )
        rows = self._rows(
            f"SELECT number, author FROM issues WHERE number IN ({ready}) AND state = 'open'"
            " ORDER BY number"
        )
        labels = self._labels([row[0] for row in rows])
        return [Queued(row[0], row[1], tuple(labels.get(row[0], ()))) for row in rows]

    def _labels(self, numbers: list[int]) -> dict[int, list[str]]:
        """The labels of each issue of ``numbers`` (by the numbers: a filter is not run twice)."""
        labels: dict[int, list[str]] = {}
        for number, label in self._rows(
            "SELECT number, label FROM issue_labels WHERE number IN"
            " (SELECT value FROM json_each(?)) ORDER BY number, label",
            (dumps(numbers),),
        ):
            labels.setdefault(number, []).append(label)
        return labels

    def queue_counts(self) -> dict[str, int]:
        """How many issues are in each state on the dashboard's queue, by index."""
        return {
            r[0]: r[1] for r in self._rows("SELECT state, COUNT(*) FROM issue_queue GROUP BY 1")
        }

    def queue_page(self, state: str, start: int, size: int) -> list[tuple[int, str, str]]:
        """(number, title, when filed) of ``size`` issues in ``state`` on the queue from
        ``start``, oldest first, by index."""
        rows = self._rows(
            "SELECT number, title, i.created_at FROM issue_queue q JOIN issues i USING (number)"
            " WHERE q.state = ? ORDER BY q.created_at, number LIMIT ? OFFSET ?",
            (state, size, start),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def set_issue_state(self, number: int, state: str) -> None:
        self.issue(number)
        self._write(
            "UPDATE issues SET state = ?, updated_at = ? WHERE number = ?",
            (state, utc_now(), number),
        )

    def edit_issue(self, number: int, title: str, body: str) -> None:
        self.issue(number)
        self._write(
            "UPDATE issues SET title = ?, body = ?, updated_at = ? WHERE number = ?",
            (title, body, utc_now(), number),
        )

    # -- labels ---------------------------------------------------------------
    def upsert_label(self, name: str, color: str, description: str) -> None:
        self._write("INSERT OR IGNORE INTO labels VALUES (?, ?, ?)", (name, color, description))

    def change_labels(self, number: int, add: list[str], remove: list[str]) -> None:
        self.issue(number)
        with self.transaction() as db:
            for label in remove:
                db.execute(
                    "DELETE FROM issue_labels WHERE number = ? AND label = ?", (number, label)
                )
            for label in add:
                db.execute("INSERT OR IGNORE INTO issue_labels VALUES (?, ?)", (number, label))
            db.execute("UPDATE issues SET updated_at = ? WHERE number = ?", (utc_now(), number))

    # -- comments -------------------------------------------------------------
    def insert_comment(self, number: int, author: str, body: str, marker: str | None) -> Comment:
        """Insert a comment; with a marker, at most once per issue (the UNIQUE index decides)."""
        self.issue(number)
        with self.transaction() as db:  # (this thread's connection: reads see the transaction)
            posted = self.comment_by_marker(number, marker) if marker is not None else None
            if posted is not None:
                return posted
            now = utc_now()
            cur = db.execute(
                "INSERT INTO comments (number, author, body, marker, created_at)"
                " VALUES (?,?,?,?,?)",
                (number, author, body, marker, now),
            )
            return Comment(int(cur.lastrowid or 0), author, body, now)

    def comments(self, number: int) -> list[Comment]:
        rows = self._rows("SELECT * FROM comments WHERE number = ? ORDER BY id", (number,))
        return [from_row(Comment, r) for r in rows]

    def comment_by_marker(self, number: int, marker: str) -> Comment | None:
        r = self._row("SELECT * FROM comments WHERE number = ? AND marker = ?", (number, marker))
        return from_row(Comment, r) if r else None

    # -- pull requests --------------------------------------------------------
    def pr_by_branch(self, branch: str) -> PullRequest | None:
        row = self._row("SELECT * FROM pull_requests WHERE branch = ?", (branch,))
        return _pr(row) if row else None

    def pr(self, number: int) -> PullRequest:
        row = self._row("SELECT * FROM pull_requests WHERE number = ?", (number,))
        if row is None:
            raise NotFoundError(f"pull request {number} does not exist")
        return _pr(row)

    def insert_pr(
        self, issue: int, branch: str, base: str, head_sha: str, title: str, body: str
    ) -> PullRequest:
        now = utc_now()
        self._write(
            "INSERT OR IGNORE INTO pull_requests (issue, branch, base, head_sha, title, body,"
            " state, created_at, updated_at) VALUES (?,?,?,?,?,?,'open',?,?)",
            (issue, branch, base, head_sha, title, body, now, now),
        )
        found = self.pr_by_branch(branch)
        assert found is not None
        return found

    def update_pr(self, number: int, **fields: str | None) -> None:
        allowed = {"body", "head_sha", "state", "merge_sha", "title"}
        if not fields or not set(fields) <= allowed:
            raise ValueError(f"cannot update pull request fields {sorted(fields)}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        self._write(
            f"UPDATE pull_requests SET {sets}, updated_at = ? WHERE number = ?",
            (*fields.values(), utc_now(), number),
        )

    # -- CI -------------------------------------------------------------------
    def set_ci(self, sha: str, state: str) -> None:
        self._write(
            "INSERT INTO ci_status VALUES (?, ?, ?) ON CONFLICT (sha) DO UPDATE SET"
            " state = excluded.state, updated_at = excluded.updated_at",
            (sha, state, utc_now()),
        )

    def ci(self, sha: str) -> str:
        row = self._row("SELECT state FROM ci_status WHERE sha = ?", (sha,))
        return str(row[0]) if row else "none"
