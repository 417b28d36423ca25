"""The GitHub forge's one way to the REST API (docs/github.md, "What the GitHub forge
guarantees"): requests with the one retry policy (PyGithub's own retries and pacing are off),
paced writes, conditional reads, and every answer's rate-limit headers noted in the budget."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import requests
from github import Github, GithubException

from harness.caches import PROCESS, Memo
from harness.config.models import GitHubSettings
from harness.cpu import waiting
from harness.errors import DeferredError, ForgeError
from harness.forge.github_budget import RequestBudget
from harness.forge.github_issues import Query
from harness.model.retry import RetryPolicy, server_wait

T = TypeVar("T")

# how GitHub is retried; how long a wait the forge honours is the settings' ``max_wait_s``
GITHUB_RETRY = RetryPolicy(max_retries=4, base_s=1.0, cap_s=30.0, jitter=0.25)


class _Pacer:
    """Writes at least ``interval`` apart across all threads of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0.0

    def wait(self, interval: float) -> None:
        with self._lock:
            delay = self._last + interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._last = time.monotonic()


class _Pacers(Memo[_Pacer]):
    """One pacer per API, shared by every thread of the process."""


class GitHubRest:
    def __init__(
        self,
        gh: Github,
        api_url: str,
        settings: GitHubSettings,
    ) -> None:
        self.gh = gh
        self.repository = settings.repository_in_use
        self.api_url = api_url
        self.budget = RequestBudget(settings.max_request_share)  # this run's share
        self.write_interval_s = settings.write_interval_s
        self.policy = replace(GITHUB_RETRY, max_wait_s=settings.max_wait_s)

    def request(
        self,
        verb: str,
        path: str,
        query: Query | None = None,
        body: Any = None,
        etag: str | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        """One REST request: ``path`` under the repository (``/user`` alone), JSON both ways,
        ``If-None-Match`` when ``etag`` is given. An error status raises GithubException."""
        url = path if path == "/user" else f"/repos/{self.repository}{path}"
        requester = self.gh.requester
        headers = {"If-None-Match": etag} if etag else None
        status, answer, text = requester.requestJson(
            verb, f"{self.api_url}{url}", dict(query or {}), headers, body
        )
        self.budget.seen(status, answer)
        try:
            data = json.loads(text) if text and status != 304 else None
        except ValueError:  # a proxy's HTML error page
            data = None
        if status >= 400:
            raise requester.createException(status, answer, data if isinstance(data, dict) else {})
        return status, answer, data

    def get(self, path: str, query: Query, etag: str | None) -> tuple[int, dict[str, str], Any]:
        """A read with the retry policy (what ``IssueSnapshot`` reads through)."""
        return self.call(f"GET {path}", lambda: self.request("GET", path, query, etag=etag))

    def wait(self, exc: Exception, attempt: int) -> float | None:
        """Seconds to wait before trying again, or ``None`` if trying again cannot help."""
        backoff = self.policy.backoff(attempt)
        if isinstance(exc, requests.RequestException):
            return backoff
        if not isinstance(exc, GithubException):
            return None
        headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
        message = str((exc.data or {}).get("message", "")) if isinstance(exc.data, dict) else ""
        if exc.status in (403, 429) and (
            "rate limit" in message.lower() or headers.get("x-ratelimit-remaining") == "0"
        ):
            asked = server_wait(headers)
            if asked is not None:
                return max(asked, backoff)
            if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
                return max(float(headers["x-ratelimit-reset"]) - time.time(), backoff)
            if "retry-after" in headers:  # "Retry-After: 0": back off all the same
                return backoff
            return max(60.0, backoff)  # GitHub: without a header, wait at least a minute
        if exc.status >= 500:
            return backoff
        return None

    def call(
        self,
        what: str,
        fn: Callable[[], T],
        write: bool = False,
        lookup: Callable[[], T | None] | None = None,
        idempotent: bool = True,
    ) -> T:
        """One API operation with the retry policy. A non-idempotent write is retried only
        with ``lookup``, which is asked first whether the earlier attempt took effect."""
        attempt = 0
        with waiting():  # the run's CPU slot goes to another run while GitHub answers
            while True:
                if write:
                    PROCESS.part(_Pacers).get(self.api_url, _Pacer).wait(self.write_interval_s)
                try:
                    return fn()
                except (GithubException, requests.RequestException) as exc:
                    wait = self.wait(exc, attempt)
                    reason = describe(exc)
                    if wait is None:
                        raise ForgeError(f"GitHub: {what}: {reason}") from exc
                    if write and not idempotent:
                        if lookup is None:
                            raise ForgeError(
                                f"GitHub: {what}: {reason} (it may have taken effect; not repeated)"
                            ) from exc
                        found = lookup()
                        if found is not None:
                            return found
                    attempt += 1
                    if wait > self.policy.max_wait_s:
                        raise DeferredError(
                            f"GitHub asks to wait {wait:.0f} s ({what}): deferred",
                            time.time() + wait,
                        ) from exc
                    if attempt > self.policy.max_retries:
                        raise ForgeError(f"GitHub: {what}: {reason} after {attempt} tries") from exc
                    time.sleep(wait)


def describe(exc: Exception) -> str:
    if isinstance(exc, GithubException):
        data = exc.data if isinstance(exc.data, dict) else {}
        message = str(data.get("message", "")) or "no message"
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            first = errors[0]
            detail = first.get("message") or first.get("code") if isinstance(first, dict) else ""
            message += f" ({detail})" if detail else ""
        return f"HTTP {exc.status}: {message}"
    return type(exc).__name__
