"""The GitHub forge: the ``Forge`` protocol on PyGithub, with writes that happen exactly once
(docs/github.md, "What the GitHub forge guarantees", and what it costs on the rate limit).

Every request goes through ``GitHubRest``; every answer's rate-limit headers feed the run's
``RequestBudget`` (``http.budget``). The token reaches PyGithub's auth header and, for
pushes, git's askpass; nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from functools import partial
from typing import Any
from urllib.parse import quote

from github import Auth, Github, GithubException
from github.Label import Label as GhLabel
from github.PullRequest import PullRequest as GhPull
from github.Repository import Repository

from harness.caches import PROCESS, Memo
from harness.config.models import GitHubSettings
from harness.digest import sha256
from harness.errors import ForgeError, GitError, NotFoundError
from harness.faults import fault_point
from harness.forge.base import (
    Comment,
    Issue,
    IssueState,
    PullRequest,
    factory_labels,
    merge_subject,
    refuse_unmergeable,
)
from harness.forge.github_issues import IssueSnapshot, Query, issue_from_json, listing
from harness.forge.github_rest import GitHubRest
from harness.forge.markers import load_markers
from harness.git.branches import issue_of
from harness.git.remote import Remote
from harness.git.repo import GitRepo
from harness.store.db import Store

FALLBACK_BOT = "github-actions[bot]"
_FAILED_CI = frozenset(
    ("failure", "cancelled", "timed_out", "action_required", "startup_failure", "stale")
)


class _OwnComments(Memo[tuple[Comment, ...]]):
    """(store, repository, issue) -> the factory's comments on the issue as this process
    knows them: one listing (none if the issue had no comment), and each posted since."""


class _Logins(Memo[str]):
    """(API, token digest) -> login: one /user per process."""


class GitHubForge:
    """One GitHub repository through the REST API (``api_url``) and git (``remote_url``)."""

    kind = "github"

    def __init__(
        self,
        store: Store,
        repo: GitRepo,
        token: str,
        settings: GitHubSettings,
        api_url: str,
        remote_url: str,
    ) -> None:
        repository = settings.repository_in_use
        self.store = store
        self.repo = repo
        self.repository = repository
        self.markers = load_markers(store.path.parent)
        self.owner = repository.split("/")[0]
        self.api_url = api_url.rstrip("/")
        self._gh = Github(
            auth=Auth.Token(token),
            base_url=self.api_url,
            retry=None,  # requests' default: no retries; ours are below
            seconds_between_requests=None,
            seconds_between_writes=None,  # paced here, across threads
            per_page=100,
            timeout=30,
        )
        self._repo: Repository = self._gh.withLazy(True).get_repo(repository)
        self.remote = Remote(repo, remote_url, token)
        self._bot = settings.bot_login
        self._others = frozenset(settings.own_logins)
        self._who = (self.api_url, sha256(token))
        self._labels_key = self._key("labels", "ready")
        self.http = GitHubRest(self._gh, self.api_url, settings)  # its budget: the run's
        self.snapshot = IssueSnapshot(store, repository, self.http.get)
        # why no further issue may be taken in this run (``taken`` so far), or None; and after
        # a run's writes, one more read, so that the next run starts from ``304``
        self.request_budget_stop = self.http.budget.stop_reason
        self.settle = self.snapshot.settle
        self._seen_prs: dict[int, PullRequest] = {}  # as last answered in this run

    # plumbing --------------------------------------------------------------------
    @property
    def bot_login(self) -> str:
        if self._bot is None:
            self._bot = PROCESS.part(_Logins).get(self._who, self._login)
        return self._bot

    def _login(self) -> str:
        """The token's login as the state keeps it, else as GitHub's /user says (kept)."""
        key = f"github:{self.api_url}:login:{self._who[1]}"  # a digest, not the token
        known = self.store.cached(key)
        if known is not None:
            return str(known[0])
        try:
            login = self.http.call(
                "who am I", lambda: str(self.http.request("GET", "/user")[2]["login"])
            )
        except ForgeError:  # an installation token cannot read /user
            login = FALLBACK_BOT
        self.store.cache({key: login})
        return login

    def is_own(self, login: str) -> bool:
        """The token's login, or another the factory also writes as (``github.own_logins``:
        say a GitHub App whose token opens the PRs while the job's own token comments)."""
        return login in self._others or login == self.bot_login

    def _key(self, kind: str, what: str) -> str:
        return f"github:{self.repository}:{kind}:{what}"

    # issues ------------------------------------------------------------------------
    def list_issues(self, state: str) -> list[Issue]:
        """Issues only (GitHub lists pull requests as issues too), from the snapshot: the
        open ones, and the closed ones it has seen close."""
        issues = self.snapshot.issues().values()
        return sorted(
            (i for i in issues if state == "all" or i.state == state), key=lambda i: i.number
        )

    def get_issue(self, number: int) -> Issue:
        known = self.snapshot.issue(number)
        if known is not None:
            return known
        path = f"/issues/{number}"
        try:
            got = self.http.call(f"get issue #{number}", lambda: self.http.request("GET", path))
        except ForgeError as exc:  # 410: an administrator deleted it; 404: it never was
            cause = exc.__cause__
            if isinstance(cause, GithubException) and cause.status in (404, 410):
                raise NotFoundError(f"issue {number} does not exist ({exc})") from exc
            raise
        return issue_from_json(got[2])

    def create_issue(self, title: str, body: str, author: str) -> Issue:
        """Filed as the token's user (GitHub does not let anyone file as ``author``)."""
        data = self.http.call(
            "create an issue",
            lambda: self.http.request("POST", "/issues", body={"title": title, "body": body})[2],
            write=True,
            idempotent=False,
        )
        issue = issue_from_json(data)
        self.snapshot.remember(issue)
        return issue

    def set_issue_state(self, number: int, state: IssueState) -> None:
        def write() -> None:
            if self.get_issue(number).state != state:
                path = f"/issues/{number}"
                data = self.http.request("PATCH", path, body={"state": state})[2]
                self.snapshot.remember(issue_from_json(data))

        self.http.call(f"set #{number} {state}", write, write=True)

    # labels ------------------------------------------------------------------------
    def ensure_labels(self) -> None:
        """Create the factory's labels (colour and description) that the repository lacks;
        once per repository (the store remembers), again after a write found one missing."""
        if self.store.cached(self._labels_key) is not None:
            return
        present = self.http.call(
            "list labels", lambda: {label.name for label in self._repo.get_labels()}
        )
        for name, (color, description) in factory_labels().items():
            if name in present:
                continue
            try:
                self.http.call(
                    f"create label {name}",
                    partial(self._repo.create_label, name, color, description),
                    write=True,
                    idempotent=False,
                    lookup=partial(self._label_exists, name),
                )
            except ForgeError as exc:
                if "already_exists" not in str(exc):
                    raise
        self.store.cache({self._labels_key: sorted(factory_labels())})

    def _label_exists(self, name: str) -> GhLabel | None:
        return next((label for label in self._repo.get_labels() if label.name == name), None)

    def _labelled(self, number: int, data: Any) -> None:
        """The labels GitHub answered with; one that had to be created on the fly (GitHub's
        grey, no description) means the set-up must be checked again."""
        labels = [x for x in data or [] if isinstance(x, dict)]
        if any(x.get("name") in factory_labels() and not x.get("description") for x in labels):
            self.store.uncache(self._labels_key)
        names = tuple(sorted(str(x["name"]) for x in labels))
        known = self.snapshot.known(number)
        self.snapshot.remember(replace(known, labels=names) if known else None)

    def add_labels(self, number: int, labels: list[str]) -> None:
        """One request with the labels the snapshot says are missing. Adding is a set union
        on GitHub, so a repeated request is harmless."""
        current = set(self.get_issue(number).labels)
        missing = [label for label in labels if label not in current]
        if missing:
            path = f"/issues/{number}/labels"
            data = self.http.call(
                f"label #{number}",
                lambda: self.http.request("POST", path, body={"labels": missing})[2],
                write=True,
            )
            self._labelled(number, data)

    def remove_labels(self, number: int, labels: list[str]) -> None:
        current = set(self.get_issue(number).labels)
        for label in labels:
            if label in current:
                self.http.call(
                    f"unlabel #{number}",
                    partial(self._remove_label, number, label),
                    write=True,
                )

    def _remove_label(self, number: int, label: str) -> None:
        path = f"/issues/{number}/labels/{quote(label, safe='')}"
        try:
            data = self.http.request("DELETE", path)[2]
        except GithubException as exc:
            if exc.status != 404:  # already gone: the goal is reached
                raise
            known = self.snapshot.known(number)
            data = [{"name": x} for x in (known.labels if known else ()) if x != label]
        self._labelled(number, data)

    # comments ----------------------------------------------------------------------
    def list_comments(self, number: int) -> list[Comment]:
        return [_comment(c) for c in listing(self.http.get, f"/issues/{number}/comments", {})]

    def find_comment(self, number: int, key: str) -> Comment | None:
        return self._marked(self.list_comments(number), number, key)

    def _marked(self, comments: Iterable[Comment], number: int, key: str) -> Comment | None:
        """The factory's own comment ``key`` among ``comments``: by one of its logins and
        beginning with its signed marker (anywhere else, or by anyone else, it does not count)."""
        for comment in comments:
            if self.is_own(comment.author) and self.markers.owns(comment.body, number, key):
                return comment
        return None

    def _own(self, number: int, key: str) -> Comment | None:
        """``find_comment`` from what this process knows of the issue's comments: listed
        once, not at all if the issue had none when this process read the world."""

        def listed() -> tuple[Comment, ...]:
            if self.snapshot.had_no_comments(number):
                return ()
            return tuple(c for c in self.list_comments(number) if self.is_own(c.author))

        return self._marked(PROCESS.part(_OwnComments).get(self._at(number), listed), number, key)

    def _at(self, number: int) -> tuple[str, str, int]:
        """Issue ``number``'s key in ``_OwnComments``."""
        return (str(self.store.path), self.repository, number)

    def post_comment(self, number: int, key: str, body: str) -> Comment:
        intent = self._key("comment", f"{number}:{key}")
        known = self.store.intent(intent)
        if known is not None and known[0] == "done":
            return Comment(**known[1])
        # A post begun and not resolved (a crash, another process) is looked for on the
        # forge; one never begun, in what this process knows (every post is begun first).
        found = self.find_comment(number, key) if known is not None else self._own(number, key)
        if found is None:
            self.store.begin_intent(intent, "comment")
            text = f"{self.markers.tag(number, key)}\n{body}"

            def create() -> Comment:
                path = f"/issues/{number}/comments"
                return _comment(self.http.request("POST", path, body={"body": text})[2])

            found = self.http.call(
                f"comment on #{number}",
                create,
                write=True,
                idempotent=False,
                lookup=lambda: self.find_comment(number, key),
            )
            fault_point("forge.comment.posted")
            self.snapshot.remember(self.snapshot.known(number))  # its update time moved
            memo = PROCESS.part(_OwnComments)
            mine = memo.peek(self._at(number))
            if mine is not None:  # never this post alone
                memo.put(self._at(number), (*mine, found))
        self.store.resolve_intent(intent, found.__dict__)
        return found

    # pull requests -----------------------------------------------------------------
    def _pull(self, raw: GhPull) -> PullRequest:
        pr = PullRequest(
            number=raw.number,
            issue=issue_of(raw.head.ref) or 0,
            branch=raw.head.ref,
            base=raw.base.ref,
            head_sha=raw.head.sha,
            title=raw.title or "",
            body=raw.body or "",
            state="merged" if raw.merged else raw.state,
            merge_sha=raw.merge_commit_sha if raw.merged else None,
        )
        self._seen_prs[pr.number] = pr
        return pr

    def find_pr(self, branch: str) -> PullRequest | None:
        def newest() -> PullRequest | None:
            pulls = self._repo.get_pulls(state="all", head=f"{self.owner}:{branch}")
            return next((self._pull(raw) for raw in pulls), None)

        return self.http.call(f"find the PR of {branch}", newest)

    def get_pr(self, number: int) -> PullRequest:
        return self.http.call(f"get PR #{number}", lambda: self._pull(self._repo.get_pull(number)))

    def merged_pr(self, sha: str) -> PullRequest | None:
        def ours() -> PullRequest | None:
            for raw in self._repo.get_commit(sha).get_pulls():
                merged = raw.merged and raw.merge_commit_sha == sha and self.is_own(raw.user.login)
                if merged and raw.merged_by and self.is_own(raw.merged_by.login):
                    return self._pull(raw)
            return None

        return self.http.call(f"the pull request merged as {sha[:12]}", ours)

    def open_pr(self, issue: int, branch: str, base: str, title: str, body: str) -> PullRequest:
        """Push ``branch`` and open its PR, or return the PR that branch already has."""
        intent = self._key("pr", branch)
        known = self.store.intent(intent)
        if known is not None and known[0] == "done":
            return self.get_pr(int(known[1]))
        head = self.repo.rev_parse(f"refs/heads/{branch}")
        if head is None:
            raise ForgeError(f"cannot open a PR: branch {branch!r} does not exist")
        try:
            self.remote.push(head, branch)
        except GitError as exc:
            raise ForgeError(f"GitHub: push {branch}: {exc}") from exc
        found = self.find_pr(branch)
        if found is None:
            self.store.begin_intent(intent, "pr")
            lookup = partial(self.find_pr, branch)
            try:
                found = self.http.call(
                    f"open a PR for {branch}",
                    lambda: self._pull(
                        self._repo.create_pull(base=base, head=branch, title=title, body=body)
                    ),
                    write=True,
                    idempotent=False,
                    lookup=lookup,
                )
            except ForgeError:
                found = lookup()  # "a pull request already exists": a racing writer won
                if found is None:
                    raise
            fault_point("github.pr.created")
        self.store.resolve_intent(intent, found.number)
        return found

    def update_pr_body(self, number: int, body: str) -> None:
        """Edit the body, unless it already says exactly this (a plan applied twice, a run
        resumed after a crash): an edit that changes nothing is still a write."""
        if self.get_pr(number).body == body:
            return
        self.http.call(
            f"edit PR #{number}", lambda: self._repo.get_pull(number).edit(body=body), write=True
        )

    def close_pr(self, number: int) -> None:
        def close() -> None:
            raw = self._repo.get_pull(number)
            if raw.state == "open":
                raw.edit(state="closed")

        self.http.call(f"close PR #{number}", close, write=True)

    def ci_status(self, sha: str) -> str:
        """Check runs and commit statuses: any failure fails, anything unfinished is pending,
        nothing is ``none``. Read conditionally (an unchanged SHA's ``304`` costs nothing)."""

        def status() -> str:
            checks = self._conditional(f"/commits/{sha}/check-runs", {"per_page": 100})
            combined = self._conditional(f"/commits/{sha}/status", {})
            runs = checks.get("check_runs") or []
            total = int(combined.get("total_count") or 0)
            state = combined.get("state") if total else None  # no status: no combined state
            if not runs and not total:
                return "none"
            if state in ("failure", "error") or any(
                r.get("conclusion") in _FAILED_CI for r in runs
            ):
                return "failure"
            if state == "pending" or any(r.get("status") != "completed" for r in runs):
                return "pending"
            return "success"

        return self.http.call(f"CI of {sha[:12]}", status)

    def _conditional(self, path: str, query: Query) -> Any:
        """A GET whose answer and ETag the store keeps; a ``304`` answers from the store."""
        key = self._key("get", f"{path}?{sorted(query.items())}")
        known = self.store.cached(key)
        status, headers, data = self.http.request(
            "GET", path, query, etag=known[1] if known else None
        )
        if status == 304 and known is not None:
            return known[0]
        self.store.cache({key: data}, headers.get("etag") or headers.get("ETag"))
        return data

    def merge_pr(self, number: int, expected_head_sha: str) -> str:
        """Merge through the API with the head SHA GitHub must still see (it refuses the
        merge otherwise), then bring the local production branch up to the merge."""
        pr = self._seen_prs.get(number)
        if pr is None or pr.state != "open" or pr.head_sha != expected_head_sha:
            pr = self.get_pr(number)  # not seen, or seen otherwise: GitHub says what it is now
        if pr.state == "merged" and pr.merge_sha:
            self.sync(pr.base)
            return pr.merge_sha
        refuse_unmergeable(pr, expected_head_sha, pr.head_sha)

        def merged() -> str | None:
            now = self.get_pr(number)
            return now.merge_sha if now.state == "merged" else None

        sha = self.http.call(
            f"merge PR #{number}",
            lambda: str(
                self._repo.get_pull(number)
                .merge(
                    sha=expected_head_sha,
                    merge_method="merge",
                    commit_title=merge_subject(pr),
                )
                .sha
            ),
            write=True,
            idempotent=False,
            lookup=merged,
        )
        self.sync(pr.base)
        return sha

    # the production branch ----------------------------------------------------------
    def sync(self, branch: str) -> str:
        try:
            return self.remote.sync(branch)
        except GitError as exc:
            raise ForgeError(f"GitHub: sync {branch}: {exc}") from exc

    def revert_merge(self, branch: str, merge_sha: str, message: str) -> str:
        """A revert commit on the production branch, pushed only if it is still at
        ``merge_sha`` on GitHub (otherwise nothing changes and a person decides)."""
        self.sync(branch)
        revert = self.repo.revert_merge(branch, merge_sha, message)
        try:
            self.remote.push_fast_forward(merge_sha, revert, branch)
        except GitError as exc:
            self.repo.advance(branch, revert, merge_sha, "factory: revert not pushed")
            raise ForgeError(f"GitHub: push the revert to {branch}: {exc}") from exc
        return revert

    # repository variables (the kill switch of the Actions workflows) ---------------
    def set_variable(self, name: str, value: str) -> None:
        def put() -> None:
            try:
                variable = self._repo.get_variable(name)
                current = variable.value
            except GithubException as exc:
                if exc.status != 404:
                    raise
                self._repo.create_variable(name, value)
                return
            if current != value:
                variable.edit(value)

        self.http.call(f"set variable {name}", put, write=True)


def _comment(raw: dict[str, Any]) -> Comment:
    user = raw.get("user") or {}
    return Comment(
        int(raw["id"]), str(user.get("login") or ""), str(raw.get("body") or ""), raw["created_at"]
    )
