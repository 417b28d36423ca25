"""The issues of a GitHub repository as the issue listing described them: one read of the
world per run, kept in the store, brought up to date by one conditional request (docs/github.md,
"What it costs on GitHub's rate limit"); ``settle`` reads it once more after the factory's own
writes so that the next run's first request is answered ``304``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any, TypedDict

from harness.caches import PROCESS, Memo
from harness.forge.base import Issue
from harness.store.db import Store

PER_PAGE = 100
MAX_AGE_S = 30.0  # how old the snapshot may be before the world is read again


class _Checked(Memo[float]):
    """Snapshot -> when this process last read the world for it."""


class Query(TypedDict, total=False):
    """The parameters the forge sends with a GET of GitHub's REST API."""

    state: str  # open | closed | all
    sort: str  # created | updated
    direction: str  # asc | desc
    per_page: int
    page: int


# GET path, query, ETag to send (or None) -> (status, response headers, JSON)
Getter = Callable[[str, Query, str | None], tuple[int, dict[str, str], Any]]


def issue_from_json(raw: dict[str, Any]) -> Issue:
    """An issue as GitHub's JSON describes it (a list entry or a single issue)."""
    user = raw.get("user") or {}
    return Issue(
        number=int(raw["number"]),
        title=str(raw.get("title") or ""),
        body=str(raw.get("body") or ""),
        author=str(user.get("login") or ""),
        state=str(raw.get("state") or "open"),
        labels=tuple(sorted(str(label["name"]) for label in raw.get("labels") or [])),
        created_at=str(raw.get("created_at") or ""),
        updated_at=str(raw.get("updated_at") or ""),
        comment_count=int(raw["comments"]) if isinstance(raw.get("comments"), int) else None,
    )


class IssueSnapshot:
    """Kept in the store, so that every forge on the same store (the workers of a cycle)
    reads the same snapshot and sees the others' writes at once."""

    def __init__(self, store: Store, repository: str, get: Getter) -> None:
        self.store = store
        self.get = get
        self.max_age_s = MAX_AGE_S  # (a test reads the world again sooner)
        self._prefix = f"github:{repository}:issue:"
        self._cursor = f"github:{repository}:issues-cursor"
        self._dirty = f"github:{repository}:issues-written"
        self._lock = threading.RLock()
        self._process_key = f"{store.path}:{repository}"

    # reading -------------------------------------------------------------------------
    def issues(self) -> dict[int, Issue]:
        """Every issue known, by number, no older than ``max_age_s``."""
        self._fresh()
        return {i.number: i for i in map(_issue, self.store.cached_under(self._prefix).values())}

    def issue(self, number: int) -> Issue | None:
        self._fresh()
        return self.known(number)

    def known(self, number: int) -> Issue | None:
        """The snapshot's copy of issue ``number`` as it is, without reading the world."""
        found = self.store.cached(self._key(number))
        return None if found is None else _issue(found[0])

    def had_no_comments(self, number: int) -> bool:
        """Whether issue ``number`` had no comment at all when this process last read the
        world (the count the listing gave; a comment since moves the issue's update time, so
        the count is as fresh as the read)."""
        if PROCESS.part(_Checked).peek(self._process_key) is None:
            return False
        known = self.known(number)
        return known is not None and known.comment_count == 0

    def _fresh(self) -> None:
        """Read the world once per process (the workers of a cycle share the read), and
        again once ``max_age_s`` passed."""
        checked = PROCESS.part(_Checked).peek(self._process_key)
        if checked is None or time.monotonic() - checked > self.max_age_s:
            self.refresh()

    def refresh(self) -> None:
        """Bring the snapshot up to date: one request when nothing changed."""
        with self._lock:
            cursor = self.store.cached(self._cursor)
            if cursor is None:
                self._keep(self._all_open())
            self._keep(self._changed(cursor))
            self.store.uncache(self._dirty)
            PROCESS.part(_Checked).put(self._process_key, time.monotonic())

    def settle(self) -> None:
        """After the factory's own writes: read the world once, so that the next run's first
        request finds nothing changed."""
        if self.store.cached(self._dirty) is not None:
            self.refresh()
        # the next run of this process reads the world again (a 304)
        PROCESS.part(_Checked).drop(self._process_key)

    def remember(self, issue: Issue | None) -> None:
        """The factory changed ``issue`` (labels, state, comments): the snapshot says so
        (``None``: an issue it does not hold changed)."""
        if issue is not None:
            self._keep({issue.number: issue})
        self.store.cache({self._dirty: True})

    # the requests ----------------------------------------------------------------------
    def _all_open(self) -> dict[int, Issue]:
        query: Query = {"state": "open", "sort": "created", "direction": "asc"}
        return _issues_of(list(listing(self.get, "/issues", query)))

    def _changed(self, cursor: tuple[Any, str | None] | None) -> dict[int, Issue]:
        """Issues updated since the cursor, newest first, down to the last known update."""
        since = str(cursor[0]["updated"]) if cursor else ""
        etag = cursor[1] if cursor else None
        found: dict[int, Issue] = {}
        newest = since
        validator = etag
        page = 1
        while True:
            query: Query = {
                "state": "all",
                "sort": "updated",
                "direction": "desc",
                "per_page": PER_PAGE,
                "page": page,
            }
            status, headers, data = self.get("/issues", query, etag if page == 1 else None)
            if status == 304:
                break
            if page == 1:
                validator = headers.get("etag")
            fresh = [raw for raw in data if str(raw.get("updated_at") or "") >= since]
            found.update(_issues_of(fresh))
            newest = max([newest, *(str(raw.get("updated_at") or "") for raw in fresh)])
            newer = [raw for raw in fresh if str(raw.get("updated_at") or "") > since]
            if cursor is None or len(newer) < len(data) or len(data) < PER_PAGE:
                break  # reached what the last read saw (times are to the second)
            page += 1
        self.store.cache({self._cursor: {"updated": newest}}, validator)
        return found

    def _key(self, number: int) -> str:
        return f"{self._prefix}{number:010d}"

    def _keep(self, issues: dict[int, Issue]) -> None:
        if issues:
            self.store.cache({self._key(n): asdict(i) for n, i in issues.items()})


def listing(get: Getter, path: str, query: Query) -> Iterator[Any]:
    """Every entry of a paged listing, in order: one request per ``PER_PAGE`` entries."""
    page = 1
    while True:
        _, headers, data = get(path, {**query, "per_page": PER_PAGE, "page": page}, None)
        yield from data
        if len(data) < PER_PAGE or 'rel="next"' not in headers.get("link", ""):
            return
        page += 1


def _issue(value: dict[str, Any]) -> Issue:
    return Issue(**{**value, "labels": tuple(value["labels"])})


def _issues_of(data: list[dict[str, Any]]) -> dict[int, Issue]:
    """Issues only: GitHub lists pull requests as issues too."""
    return {
        int(raw["number"]): issue_from_json(raw) for raw in data if raw.get("pull_request") is None
    }
