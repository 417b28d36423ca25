"""A stand-in for the GitHub REST API and git-over-HTTP on 127.0.0.1, driven through PyGithub
and git.

Realistic where the factory depends on it: objects carry their ``url`` fields (PyGithub
follows them), lists are paginated with ``Link`` headers, errors have GitHub's bodies
(404, 422 with ``errors``, 409 on a stale merge SHA, 405 on an unmergeable PR), every answer
carries ``x-ratelimit-*`` headers (``rate_remaining`` can be set; a window resets at a fixed
time; once it is spent every request is refused with 403), a GET answers with an ``ETag``
and, asked again with ``If-None-Match`` for the same content, ``304 Not Modified``, which
costs nothing from the limit (as on GitHub). Faults can be injected: a secondary rate limit
(403 with or without ``Retry-After``), an exhausted primary limit, a 5xx before the write,
and a 502 *after* a write that succeeded. Pushes and fetches go through ``git http-backend``
with Basic authentication; merges through the API really merge in the bare repository.
Every request is recorded (method, path, headers, body, time) for tests to assert on.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from harness.errors import GitError
from harness.git.repo import GitRepo
from tests.standins.git_http import http_backend

DOCS = "https://docs.github.com/rest"
SECONDARY = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID."
)


def _listed(value: object) -> list[object]:
    """A JSON list as sent (anything else: no items; each item is checked where it is used)."""
    return value if isinstance(value, list) else []


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    kind: str  # secondary | primary | 5xx | 502-after
    retry_after: str | None = None
    status: int = 502


@dataclass
class _Issue:
    number: int
    title: str
    body: str
    author: str
    created_at: str
    updated_at: str
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    closed_at: str | None = None
    is_pr: bool = False


@dataclass
class _Pull:
    number: int
    head: str
    base: str
    author: str
    merged: bool = False
    merge_sha: str | None = None
    merged_at: str | None = None
    merged_by: str | None = None  # the API's caller: the token's login


class Comment(TypedDict):
    """A comment as the stand-in keeps it (tests read ``body`` and ``author``)."""

    id: int
    issue: int
    author: str
    body: str
    created_at: str


class GitHubError(Exception):
    def __init__(
        self, status: int, message: str, errors: list[dict[str, object]] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart
    server: _Server

    def log_message(self, *args: Any) -> None:
        return

    def _body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        standin = self.server.standin
        split = urlsplit(self.path)
        body = self._body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        standin.record(
            Recorded(self.command, split.path, parse_qs(split.query), headers, body, time.time())
        )
        if split.path.endswith(".git") or ".git/" in split.path:
            self._git(split.path, split.query, body, headers)
            return
        status, payload, extra = standin.dispatch(
            self.command, split.path, parse_qs(split.query), headers, body
        )
        data = b"" if payload is None else json.dumps(payload).encode()
        etag = ""
        if self.command == "GET" and status == 200:
            digest = hashlib.sha256(data + extra.get("link", "").encode()).hexdigest()
            etag = f'W/"{digest[:40]}"'
            if etag in headers.get("if-none-match", ""):
                status, data = 304, b""
        out = {
            "content-type": "application/json; charset=utf-8",
            **standin.rate_headers(counted=status != 304),
        }
        if etag:
            out["etag"] = etag
        out.update(extra)
        if status >= 500 and payload is None:
            data = f"<html><body>{status} server error</body></html>".encode()
            out["content-type"] = "text/html"
        self._send(status, data, out)

    def _git(self, path: str, query: str, body: bytes, headers: dict[str, str]) -> None:
        standin = self.server.standin
        if not standin.git_authorised(headers.get("authorization", "")):
            self._send(
                401,
                b"Authentication required",
                {"WWW-Authenticate": 'Basic realm="GitHub"', "content-type": "text/plain"},
            )
            return
        reply = http_backend(
            standin.git_root,
            self.command,
            path,
            query,
            body,
            headers.get("content-type", ""),
            headers.get("content-encoding", ""),
            remote_user="x-access-token",
        )
        self._send(reply.status, reply.body, reply.headers)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: GitHubStandIn


Route = Callable[..., tuple[int, Any, dict[str, str]]]


class GitHubStandIn:
    """Use as a context manager. ``api_url`` is the REST base (like GitHub Enterprise's
    ``/api/v3``), ``server_url`` serves ``<owner>/<name>.git`` from ``git_root``."""

    def __init__(
        self,
        git_root: Path,
        repository: str = "acme/app",
        token: str = "ghs_standin",
        bot_login: str = "factory-bot",
        default_branch: str = "main",
    ) -> None:
        self.git_root = git_root
        self.repository, self.token, self.bot_login = repository, token, bot_login
        self.default_branch = default_branch
        self.requests: list[Recorded] = []
        self.ci_conclusion: str | None = None  # a check run for every commit, if set
        self.statuses: dict[str, list[dict[str, object]]] = {}
        self.check_runs: dict[str, list[dict[str, object]]] = {}
        self.variables: dict[str, str] = {}
        self.labels: dict[str, dict[str, str]] = {}
        self.issues: dict[int, _Issue] = {}
        self.deleted: set[int] = set()  # numbers an administrator deleted: 410 Gone
        self.pulls: dict[int, _Pull] = {}
        self.comments: dict[int, Comment] = {}
        self._faults: list[Fault] = []
        self.rate_limit = 5000
        self.rate_remaining = 5000
        self.rate_reset = int(time.time()) + 3600
        self.not_modified = 0  # 304 answers given
        self._lock = threading.RLock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.standin = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._routes: list[tuple[str, re.Pattern[str], Route]] = []
        owner_repo = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        table: list[tuple[str, str, Route]] = [
            ("GET", r"/user", self._user),
            ("GET", r"", self._repo),
            ("GET", r"/issues", self._list_issues),
            ("POST", r"/issues", self._create_issue),
            ("GET", r"/issues/(?P<n>\d+)", self._get_issue),
            ("PATCH", r"/issues/(?P<n>\d+)", self._edit_issue),
            ("GET", r"/issues/(?P<n>\d+)/labels", self._issue_labels),
            ("POST", r"/issues/(?P<n>\d+)/labels", self._add_labels),
            ("DELETE", r"/issues/(?P<n>\d+)/labels/(?P<name>[^/]+)", self._remove_label),
            ("GET", r"/issues/(?P<n>\d+)/comments", self._list_comments),
            ("POST", r"/issues/(?P<n>\d+)/comments", self._create_comment),
            ("GET", r"/labels", self._list_labels),
            ("POST", r"/labels", self._create_label),
            ("GET", r"/pulls", self._list_pulls),
            ("POST", r"/pulls", self._create_pull),
            ("GET", r"/pulls/(?P<n>\d+)", self._get_pull),
            ("PATCH", r"/pulls/(?P<n>\d+)", self._edit_pull),
            ("PUT", r"/pulls/(?P<n>\d+)/merge", self._merge_pull),
            ("GET", r"/commits/(?P<sha>[0-9a-f]{7,40})", self._get_commit),
            ("GET", r"/commits/(?P<sha>[0-9a-f]{7,40})/check-runs", self._check_runs),
            ("GET", r"/commits/(?P<sha>[0-9a-f]{7,40})/pulls", self._commit_pulls),
            ("GET", r"/commits/(?P<sha>[0-9a-f]{7,40})/status", self._status),
            ("GET", r"/actions/variables/(?P<name>[A-Za-z0-9_]+)", self._get_variable),
            ("POST", r"/actions/variables", self._create_variable),
            ("PATCH", r"/actions/variables/(?P<name>[A-Za-z0-9_]+)", self._edit_variable),
        ]
        for method, pattern, fn in table:
            prefix = "" if pattern == r"/user" else owner_repo
            self._routes.append((method, re.compile(f"^/api/v3{prefix}{pattern}$"), fn))

    # lifecycle -----------------------------------------------------------------
    @property
    def server_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.server_url}/api/v3"

    @property
    def bare(self) -> Path:
        return self.git_root / f"{self.repository}.git"

    def __enter__(self) -> GitHubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # test controls -------------------------------------------------------------
    def fail_next(
        self, method: str, path: str, kind: str, retry_after: str | None = None, status: int = 502
    ) -> None:
        """The next ``method`` request whose path matches ``path`` (a regex) gets a fault."""
        with self._lock:
            self._faults.append(Fault(method, re.compile(path), kind, retry_after, status))

    def open_issue(self, title: str, body: str, author: str = "alice") -> int:
        with self._lock:
            number = self._next_number()
            self.issues[number] = _Issue(number, title, body, author, _now(), _now())
            return number

    def edit_issue(self, number: int, title: str, body: str) -> None:
        """What its author's edit does: new title and body, same number."""
        with self._lock:
            issue = self.issues[number]
            issue.title, issue.body, issue.updated_at = title, body, _now()

    def close_issue(self, number: int) -> None:
        """What a maintainer's click on "Close issue" does."""
        with self._lock:
            issue = self.issues[number]
            issue.state, issue.closed_at, issue.updated_at = "closed", _now(), _now()

    def delete_issue(self, number: int) -> None:
        """What an administrator's deletion does: the issue leaves every listing, and
        reading it answers ``410 Gone``."""
        with self._lock:
            del self.issues[number]
            self.deleted.add(number)

    def record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def writes(self) -> list[Recorded]:
        """Every request that may change something (a fetch's POST to git-upload-pack does not)."""
        return [
            r
            for r in self.requests
            if r.method in ("POST", "PATCH", "PUT", "DELETE")
            and not r.path.endswith("/git-upload-pack")
        ]

    def comments_on(self, number: int) -> list[Comment]:
        return [c for c in self.comments.values() if c["issue"] == number]

    def rate_headers(self, counted: bool = True) -> dict[str, str]:
        """The headers of one answer; ``counted`` False for a ``304`` (GitHub's rule)."""
        with self._lock:
            if time.time() >= self.rate_reset:
                self.rate_remaining, self.rate_reset = self.rate_limit, int(time.time()) + 3600
            if counted:
                self.rate_remaining = max(0, self.rate_remaining - 1)
            else:
                self.not_modified += 1
            return {
                "x-ratelimit-limit": str(self.rate_limit),
                "x-ratelimit-remaining": str(self.rate_remaining),
                "x-ratelimit-used": str(self.rate_limit - self.rate_remaining),
                "x-ratelimit-reset": str(self.rate_reset),
                "x-ratelimit-resource": "core",
                "x-github-request-id": f"STANDIN:{len(self.requests):06d}",
            }

    # auth ------------------------------------------------------------------------
    def _authorised(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        return scheme.lower() in ("token", "bearer") and value == self.token

    def git_authorised(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            _, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False
        return password == self.token

    # dispatch --------------------------------------------------------------------
    def dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[int, Any, dict[str, str]]:
        if not self._authorised(headers.get("authorization", "")):
            return self._error(GitHubError(401, "Bad credentials"))
        if self.rate_remaining <= 0:  # GitHub's answer once the primary limit is spent
            wait = str(max(1, self.rate_reset - int(time.time())))
            return self._fault(Fault(method, re.compile(""), "primary", wait))
        fault = self._take_fault(method, path)
        if fault is not None and fault.kind != "502-after":
            return self._fault(fault)
        found = self._route(method, path)
        if found is None:
            return self._error(GitHubError(404, "Not Found"))
        fn, match = found
        args = {k: v for k, v in match.groupdict().items() if k not in ("owner", "repo")}
        named = match.groupdict()
        if "owner" in named and f"{named['owner']}/{named['repo']}" != self.repository:
            return self._error(GitHubError(404, "Not Found"))
        try:
            data = json.loads(body) if body else {}
        except json.JSONDecodeError:
            return self._error(GitHubError(400, "Problems parsing JSON"))
        if isinstance(data, list) and path.endswith("/labels"):
            data = {"labels": data}  # GitHub takes a bare array of names here too
        if method in ("POST", "PATCH", "PUT") and not isinstance(data, dict):
            return self._error(GitHubError(400, "Problems parsing JSON"))
        try:
            with self._lock:
                status, payload, extra = fn(query=query, data=data, path=path, **args)
        except GitHubError as exc:
            return self._error(exc)
        if fault is not None:  # the write happened; the client is told it did not
            return 502, None, {}
        return status, payload, extra

    def _route(self, method: str, path: str) -> tuple[Route, re.Match[str]] | None:
        for route_method, pattern, fn in self._routes:
            match = pattern.match(path)
            if match and route_method == method:
                return fn, match
        return None

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method == method and fault.path.search(path):
                    self._faults.remove(fault)
                    return fault
        return None

    def _fault(self, fault: Fault) -> tuple[int, Any, dict[str, str]]:
        if fault.kind == "secondary":
            extra = {"retry-after": fault.retry_after} if fault.retry_after is not None else {}
            body = {"message": SECONDARY, "documentation_url": f"{DOCS}/rate-limits"}
            return 403, body, extra
        if fault.kind == "primary":
            reset = str(int(time.time()) + int(fault.retry_after or 3600))
            body = {
                "message": "API rate limit exceeded for installation ID 1.",
                "documentation_url": f"{DOCS}/rate-limits",
            }
            return 403, body, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
        return fault.status, None, {}

    def _error(self, exc: GitHubError) -> tuple[int, Any, dict[str, str]]:
        body: dict[str, object] = {
            "message": exc.message,
            "documentation_url": DOCS,
            "status": str(exc.status),
        }
        if exc.errors is not None:
            body["errors"] = exc.errors
        return exc.status, body, {}

    # shapes --------------------------------------------------------------------------
    def _base(self) -> str:
        return f"{self.api_url}/repos/{self.repository}"

    def _user_json(self, login: str) -> dict[str, object]:
        return {
            "login": login,
            "id": abs(hash(login)) % 10_000_000,
            "node_id": f"U_{login}",
            "type": "Bot" if login == self.bot_login else "User",
            "url": f"{self.api_url}/users/{login}",
            "html_url": f"{self.server_url}/{login}",
            "site_admin": False,
        }

    def _repo_json(self) -> dict[str, object]:
        owner, name = self.repository.split("/")
        return {
            "id": 1,
            "node_id": "R_1",
            "name": name,
            "full_name": self.repository,
            "owner": self._user_json(owner),
            "private": False,
            "url": self._base(),
            "html_url": f"{self.server_url}/{self.repository}",
            "clone_url": f"{self.server_url}/{self.repository}.git",
            "default_branch": self.default_branch,
        }

    def _label_json(self, name: str) -> dict[str, object]:
        label = self.labels.get(name, {"color": "ededed", "description": ""})
        return {
            "id": abs(hash(name)) % 10_000_000,
            "node_id": f"L_{name}",
            "url": f"{self._base()}/labels/{quote(name, safe='')}",
            "name": name,
            "color": label["color"],
            "description": label["description"],
            "default": False,
        }

    def _issue_json(self, issue: _Issue) -> dict[str, object]:
        url = f"{self._base()}/issues/{issue.number}"
        out: dict[str, object] = {
            "id": 1000 + issue.number,
            "node_id": f"I_{issue.number}",
            "url": url,
            "repository_url": self._base(),
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": f"{self.server_url}/{self.repository}/issues/{issue.number}",
            "number": issue.number,
            "state": issue.state,
            "state_reason": "completed" if issue.state == "closed" else None,
            "title": issue.title,
            "body": issue.body,
            "user": self._user_json(issue.author),
            "labels": [self._label_json(n) for n in issue.labels],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "comments": len(self.comments_on(issue.number)),
            "created_at": issue.created_at,
            "updated_at": issue.updated_at,
            "closed_at": issue.closed_at,
            "author_association": "NONE",
        }
        if issue.is_pr:
            out["pull_request"] = {
                "url": f"{self._base()}/pulls/{issue.number}",
                "html_url": f"{self.server_url}/{self.repository}/pull/{issue.number}",
            }
        return out

    def _comment_json(self, comment: Comment) -> dict[str, object]:
        return {
            "id": comment["id"],
            "node_id": f"IC_{comment['id']}",
            "url": f"{self._base()}/issues/comments/{comment['id']}",
            "html_url": f"{self.server_url}/{self.repository}/issues/{comment['issue']}",
            "issue_url": f"{self._base()}/issues/{comment['issue']}",
            "body": comment["body"],
            "user": self._user_json(comment["author"]),
            "created_at": comment["created_at"],
            "updated_at": comment["created_at"],
            "author_association": "NONE",
        }

    def _branch_sha(self, branch: str) -> str | None:
        return GitRepo(self.bare).rev_parse(f"refs/heads/{branch}")

    def _pull_json(self, pull: _Pull) -> dict[str, object]:
        issue = self.issues[pull.number]
        owner = self.repository.split("/")[0]
        head_sha = self._branch_sha(pull.head) or ""
        ref = {"repo": self._repo_json(), "user": self._user_json(owner)}
        return {
            "id": 5000 + pull.number,
            "node_id": f"PR_{pull.number}",
            "url": f"{self._base()}/pulls/{pull.number}",
            "html_url": f"{self.server_url}/{self.repository}/pull/{pull.number}",
            "issue_url": f"{self._base()}/issues/{pull.number}",
            "number": pull.number,
            "state": issue.state,
            "title": issue.title,
            "body": issue.body,
            "user": self._user_json(pull.author),
            "created_at": issue.created_at,
            "updated_at": issue.updated_at,
            "closed_at": issue.closed_at,
            "merged_at": pull.merged_at,
            "merge_commit_sha": pull.merge_sha,
            "merged": pull.merged,
            "merged_by": self._user_json(pull.merged_by) if pull.merged_by else None,
            "mergeable": None if pull.merged else True,
            "head": {**ref, "label": f"{owner}:{pull.head}", "ref": pull.head, "sha": head_sha},
            "base": {
                **ref,
                "label": f"{owner}:{pull.base}",
                "ref": pull.base,
                "sha": self._branch_sha(pull.base) or "",
            },
        }

    def _paginate(
        self, path: str, query: dict[str, list[str]], items: list[Any]
    ) -> tuple[int, Any, dict[str, str]]:
        per_page = min(int(query.get("per_page", ["30"])[0]), 100)
        page = max(1, int(query.get("page", ["1"])[0]))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        flat = {k: v[0] for k, v in query.items()}

        def link(n: int, rel: str) -> str:
            return f'<{self.server_url}{path}?{urlencode({**flat, "page": n})}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        return 200, chunk, ({"link": ", ".join(links)} if links else {})

    # routes ------------------------------------------------------------------------
    def _next_number(self) -> int:
        return max(self.issues.keys() | self.deleted, default=0) + 1

    def _issue(self, n: str | int) -> _Issue:
        issue = self.issues.get(int(n))
        if int(n) in self.deleted:
            raise GitHubError(410, "This issue was deleted")
        if issue is None:
            raise GitHubError(404, "Not Found")
        return issue

    def _user(self, **_: Any) -> tuple[int, Any, dict[str, str]]:
        return 200, self._user_json(self.bot_login), {}

    def _repo(self, **_: Any) -> tuple[int, Any, dict[str, str]]:
        return 200, self._repo_json(), {}

    def _list_issues(
        self, query: dict[str, list[str]], path: str, **_: Any
    ) -> tuple[int, Any, dict[str, str]]:
        state = query.get("state", ["open"])[0]
        if state not in ("open", "closed", "all"):
            raise GitHubError(422, "Validation Failed", [{"field": "state", "code": "invalid"}])
        wanted = [x for x in query.get("labels", [""])[0].split(",") if x]
        key = query.get("sort", ["created"])[0]
        rows = [
            i
            for i in self.issues.values()
            if (state == "all" or i.state == state) and all(w in i.labels for w in wanted)
        ]
        rows.sort(
            key=lambda i: (i.updated_at if key == "updated" else i.created_at, i.number),
            reverse=query.get("direction", ["desc"])[0] == "desc",
        )
        return self._paginate(path, query, [self._issue_json(i) for i in rows])

    def _create_issue(self, data: dict[str, object], **_: Any) -> tuple[int, Any, dict[str, str]]:
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            raise GitHubError(422, "Validation Failed", [{"field": "title", "code": "missing"}])
        number = self._next_number()
        issue = _Issue(number, title, str(data.get("body") or ""), self.bot_login, _now(), _now())
        self.issues[number] = issue
        for name in _listed(data.get("labels")):
            self._add_label(issue, name)
        return 201, self._issue_json(issue), {}

    def _get_issue(self, n: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        return 200, self._issue_json(self._issue(n)), {}

    def _edit_issue(
        self, n: str, data: dict[str, object], **_: Any
    ) -> tuple[int, Any, dict[str, str]]:
        issue = self._issue(n)
        if "state" in data:
            if data["state"] not in ("open", "closed"):
                raise GitHubError(422, "Validation Failed", [{"field": "state", "code": "invalid"}])
            issue.state = data["state"]
            issue.closed_at = _now() if issue.state == "closed" else None
        for key in ("title", "body"):
            if key in data:
                setattr(issue, key, str(data[key] or ""))
        if "labels" in data:
            issue.labels = []
            for name in _listed(data["labels"]):
                self._add_label(issue, name)
        issue.updated_at = _now()
        return 200, self._issue_json(issue), {}

    def _add_label(self, issue: _Issue, name: Any) -> None:
        if not isinstance(name, str) or not name:
            raise GitHubError(422, "Validation Failed", [{"field": "labels", "code": "invalid"}])
        self.labels.setdefault(name, {"color": "ededed", "description": ""})
        if name not in issue.labels:
            issue.labels.append(name)

    def _issue_labels(self, n: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        return 200, [self._label_json(x) for x in self._issue(n).labels], {}

    def _add_labels(
        self, n: str, data: dict[str, object], **_: Any
    ) -> tuple[int, Any, dict[str, str]]:
        issue = self._issue(n)
        names = data.get("labels")
        if not isinstance(names, list):
            raise GitHubError(422, "Validation Failed", [{"field": "labels", "code": "missing"}])
        for name in names:
            self._add_label(issue, name)
        issue.updated_at = _now()
        return 200, [self._label_json(x) for x in issue.labels], {}

    def _remove_label(self, n: str, name: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        issue, label = self._issue(n), unquote(name)
        if label not in issue.labels:
            raise GitHubError(404, "Label does not exist")
        issue.labels.remove(label)
        issue.updated_at = _now()
        return 200, [self._label_json(x) for x in issue.labels], {}

    def _list_comments(
        self, n: str, query: dict[str, list[str]], path: str, **_: Any
    ) -> tuple[int, Any, dict[str, str]]:
        self._issue(n)
        rows = sorted(self.comments_on(int(n)), key=lambda c: c["id"])
        return self._paginate(path, query, [self._comment_json(c) for c in rows])

    def _create_comment(
        self, n: str, data: dict[str, object], **_: Any
    ) -> tuple[int, Any, dict[str, str]]:
        issue = self._issue(n)
        body = data.get("body")
        if not isinstance(body, str) or not body.strip():
            raise GitHubError(422, "Validation Failed", [{"field": "body", "code": "missing"}])
        if len(body) > 65536:
            raise GitHubError(
                422,
                "Validation Failed",
                [{"field": "body", "code": "custom", "message": "too long"}],
            )
        cid = 9000 + len(self.comments) + 1
        self.comments[cid] = {
            "id": cid,
            "issue": issue.number,
            "author": self.bot_login,
            "body": body,
            "created_at": _now(),
        }
        issue.updated_at = _now()
        return 201, self._comment_json(self.comments[cid]), {}

    def add_comment(self, number: int, body: str, author: str) -> None:
        """A comment by someone else (a test control)."""
        with self._lock:
            cid = 9000 + len(self.comments) + 1
            self.comments[cid] = {
                "id": cid,
                "issue": number,
                "author": author,
                "body": body,
                "created_at": _now(),
            }

    def _list_labels(
        self, query: dict[str, list[str]], path: str, **_: Any
    ) -> tuple[int, Any, dict[str, str]]:
        return self._paginate(path, query, [self._label_json(n) for n in sorted(self.labels)])

    def _create_label(self, data: dict[str, object], **_: Any) -> tuple[int, Any, dict[str, str]]:
        name, color = data.get("name"), data.get("color")
        if not isinstance(name, str) or not name:
            raise GitHubError(422, "Validation Failed", [{"field": "name", "code": "missing"}])
        if not isinstance(color, str) or not re.fullmatch(r"[0-9a-fA-F]{6}", color):
            raise GitHubError(422, "Validation Failed", [{"field": "color", "code": "invalid"}])
        if name in self.labels:
            raise GitHubError(
                422,
                "Validation Failed",
                [{"resource": "Label", "code": "already_exists", "field": "name"}],
            )
        self.labels[name] = {"color": color, "description": str(data.get("description") or "")}
        return 201, self._label_json(name), {}

    def _list_pulls(
        self, query: dict[str, list[str]], path: str, **_: Any
    ) -> tuple[int, Any, dict[str, str]]:
        state = query.get("state", ["open"])[0]
        head = query.get("head", [""])[0]
        owner = self.repository.split("/")[0]
        rows = []
        for pull in sorted(self.pulls.values(), key=lambda p: -p.number):
            issue = self.issues[pull.number]
            if state != "all" and issue.state != state:
                continue
            if head and head != f"{owner}:{pull.head}":
                continue
            rows.append(self._pull_json(pull))
        return self._paginate(path, query, rows)

    def _create_pull(self, data: dict[str, object], **_: Any) -> tuple[int, Any, dict[str, str]]:
        for key in ("title", "head", "base"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise GitHubError(422, "Validation Failed", [{"field": key, "code": "missing"}])
        title, head, base = (str(data[key]) for key in ("title", "head", "base"))
        head = head.split(":")[-1]
        owner = self.repository.split("/")[0]
        if self._branch_sha(head) is None or self._branch_sha(base) is None:
            raise GitHubError(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
            )
        for pull in self.pulls.values():
            if pull.head == head and self.issues[pull.number].state == "open":
                raise GitHubError(
                    422,
                    "Validation Failed",
                    [
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"A pull request already exists for {owner}:{head}.",
                        }
                    ],
                )
        number = self._next_number()
        body = str(data.get("body") or "")
        self.issues[number] = _Issue(
            number, title, body, self.bot_login, _now(), _now(), is_pr=True
        )
        self.pulls[number] = _Pull(number, head, base, self.bot_login)
        return 201, self._pull_json(self.pulls[number]), {}

    def _pull(self, n: str) -> _Pull:
        pull = self.pulls.get(int(n))
        if pull is None:
            raise GitHubError(404, "Not Found")
        return pull

    def _get_pull(self, n: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        return 200, self._pull_json(self._pull(n)), {}

    def _edit_pull(
        self, n: str, data: dict[str, object], **_: Any
    ) -> tuple[int, Any, dict[str, str]]:
        pull = self._pull(n)
        issue = self.issues[pull.number]
        if "state" in data:
            if data["state"] not in ("open", "closed"):
                raise GitHubError(422, "Validation Failed", [{"field": "state", "code": "invalid"}])
            if not pull.merged:
                issue.state = data["state"]
                issue.closed_at = _now() if issue.state == "closed" else None
        for key in ("title", "body"):
            if key in data:
                setattr(issue, key, str(data[key] or ""))
        issue.updated_at = _now()
        return 200, self._pull_json(pull), {}

    def _merge_pull(
        self, n: str, data: dict[str, object], **_: Any
    ) -> tuple[int, Any, dict[str, str]]:
        pull = self._pull(n)
        issue = self.issues[pull.number]
        if pull.merged or issue.state != "open":
            raise GitHubError(405, "Pull Request is not mergeable")
        head = self._branch_sha(pull.head)
        if "sha" in data and data["sha"] != head:
            raise GitHubError(409, "Head branch was modified. Review and try the merge again.")
        if data.get("merge_method", "merge") != "merge":
            raise GitHubError(405, "Merge commits are the only method allowed here")
        title = str(data.get("commit_title") or f"Merge pull request #{pull.number}")
        assert head is not None
        sha = self._merge_as_github(pull.base, head, title)
        pull.merged, pull.merge_sha, pull.merged_at = True, sha, _now()
        pull.merged_by = self.bot_login
        issue.state, issue.closed_at, issue.updated_at = "closed", _now(), _now()
        return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}, {}

    def _merge_as_github(self, base: str, head: str, title: str) -> str:
        """The merge commit GitHub makes: authored by the user who merged (its noreply
        address), committed by GitHub, on ``base`` moved only if it did not move meanwhile."""
        bare = GitRepo(self.bare)
        old = bare.rev_parse(f"refs/heads/{base}")
        try:
            tree, conflicts = bare.merged_tree(str(old), head)
        except GitError as exc:
            raise GitHubError(405, "Pull Request is not mergeable") from exc
        if conflicts:
            raise GitHubError(405, "Pull Request is not mergeable")
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": self.bot_login,
            "GIT_AUTHOR_EMAIL": f"1+{self.bot_login}@users.noreply.github.com",
            "GIT_COMMITTER_NAME": "GitHub",
            "GIT_COMMITTER_EMAIL": "noreply@github.com",
        }
        made = ["commit-tree", tree, "-p", str(old), "-p", head, "-m", title]
        sha = self._git(made, env)
        self._git(["update-ref", f"refs/heads/{base}", sha, str(old)], env)
        return sha

    def _git(self, args: list[str], env: dict[str, str]) -> str:
        done = subprocess.run(
            ["git", *args], cwd=self.bare, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode:
            raise GitHubError(405, f"Pull Request is not mergeable: {done.stderr.strip()}")
        return done.stdout.strip()

    def _get_commit(self, sha: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        full = GitRepo(self.bare).rev_parse(sha)
        if full is None:
            raise GitHubError(422, f"No commit found for SHA: {sha}")
        return 200, {"sha": full, "url": f"{self._base()}/commits/{full}", "commit": {}}, {}

    def _commit_pulls(
        self, sha: str, query: dict[str, list[str]], path: str, **_: Any
    ) -> tuple[int, Any, dict[str, str]]:
        """The pull requests a commit belongs to: merged as it, or with it as their head."""
        full = GitRepo(self.bare).rev_parse(sha)
        rows = [
            self._pull_json(pull)
            for pull in self.pulls.values()
            if full in (pull.merge_sha, self._branch_sha(pull.head))
        ]
        return self._paginate(path, query, rows)

    def _check_runs(self, sha: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        runs = list(self.check_runs.get(sha, []))
        if not runs and self.ci_conclusion is not None:
            runs = [{"status": "completed", "conclusion": self.ci_conclusion}]
        shaped = [
            {
                "id": i + 1,
                "name": r.get("name", "ci"),
                "head_sha": sha,
                "status": r["status"],
                "conclusion": r.get("conclusion"),
                "url": f"{self._base()}/check-runs/{i + 1}",
            }
            for i, r in enumerate(runs)
        ]
        return 200, {"total_count": len(shaped), "check_runs": shaped}, {}

    def _status(self, sha: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        statuses = self.statuses.get(sha, [])
        states = {s["state"] for s in statuses}
        state = (
            "failure"
            if states & {"failure", "error"}
            else "pending"
            if "pending" in states or not statuses
            else "success"
        )
        return (
            200,
            {
                "state": state,
                "sha": sha,
                "total_count": len(statuses),
                "statuses": statuses,
                "url": f"{self._base()}/commits/{sha}/status",
            },
            {},
        )

    def _variable_json(self, name: str) -> dict[str, object]:
        return {
            "name": name,
            "value": self.variables[name],
            "created_at": _now(),
            "updated_at": _now(),
            "url": f"{self._base()}/actions/variables/{name}",
        }

    def _get_variable(self, name: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        if name not in self.variables:
            raise GitHubError(404, "Not Found")
        return 200, self._variable_json(name), {}

    def _create_variable(
        self, data: dict[str, object], **_: Any
    ) -> tuple[int, Any, dict[str, str]]:
        name, value = data.get("name"), data.get("value")
        if not isinstance(name, str) or not isinstance(value, str):
            raise GitHubError(422, "Validation Failed", [{"field": "name", "code": "missing"}])
        if name in self.variables:
            raise GitHubError(409, "Already exists - Variable already exists")
        self.variables[name] = value
        return 201, {}, {}

    def _edit_variable(
        self, name: str, data: dict[str, object], **_: Any
    ) -> tuple[int, Any, dict[str, str]]:
        if name not in self.variables:
            raise GitHubError(404, "Not Found")
        value = data.get("value")
        if not isinstance(value, str):
            raise GitHubError(422, "Validation Failed", [{"field": "value", "code": "missing"}])
        self.variables[name] = value
        return 204, None, {}
