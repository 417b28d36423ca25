"""The real model: the ``anthropic`` SDK, configured from its own environment variables."""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anthropic
import httpcore2
import httpx2

from harness.errors import ConfigError, DeferredError, ModelError, QuotaError, stop_now
from harness.faults import fault_point
from harness.model.blocks import Request, Response
from harness.model.catalog import Listing
from harness.model.provider import api_key
from harness.model.ratelimit import Limiters, RateLimiter
from harness.model.retry import RETRYABLE, RetryPolicy, server_wait
from harness.paths import write_whole

if TYPE_CHECKING:
    from harness.caches import Caches

_QUOTA_WORDS = ("credit balance", "billing", "quota", "spend limit", "usage limit")
TICK_S = 1.0  # how long a read of the answer waits before it asks whether its run must stop


@dataclass(frozen=True)
class _Stoppable:
    """The network backend of the model's connection pools, and each connection it opens:
    their reads wait ``TICK_S`` at a time, asking in between whether the run must stop
    (``stop_now``): a person's cancel aborts the request, and the connection is closed as the
    error leaves it (``AnthropicModel.create``). Everything else is theirs."""

    inner: Any

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.inner, name)
        if name in ("connect_tcp", "start_tls"):  # what they open reads as this does
            return lambda *args, **kwargs: _Stoppable(found(*args, **kwargs))
        return found

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (timeout or math.inf)
        while (tick := min(TICK_S, deadline - time.monotonic())) > 0:
            try:
                return cast(bytes, self.inner.read(max_bytes, tick))
            except httpcore2.ReadTimeout:
                stop_now()
        raise httpcore2.ReadTimeout(f"no answer in {timeout} s")


def _error_type(exc: anthropic.APIStatusError) -> tuple[str, str]:
    body = exc.body if isinstance(exc.body, dict) else {}
    err = body.get("error", {}) if isinstance(body.get("error"), dict) else {}
    return str(err.get("type", "")), str(err.get("message", "")) or str(exc.message)


class AnthropicModel:
    """Messages API calls with one bounded retry layer (the SDK's own retries are off)."""

    kind = "anthropic"

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], None] = time.sleep,
        timeout_s: float = 300.0,
        caches: Caches | None = None,
    ) -> None:
        if not api_key():
            raise ConfigError(
                "environment", "ANTHROPIC_API_KEY", "not set (needed for provider type anthropic)"
            )
        self.policy = policy
        self.sleep = sleep
        http = anthropic.DefaultHttpxClient()  # the SDK's: its socket options, proxies
        for transport in (http._transport, *http._mounts.values()):
            # httpx2 names no network backend; the connection pools it is made of take one
            pool = getattr(transport, "_pool", None)
            if pool is not None:
                pool._network_backend = _Stoppable(pool._network_backend)
        self._client = anthropic.Anthropic(max_retries=0, timeout=timeout_s, http_client=http)
        endpoint = str(self._client.base_url)
        wait = self.policy.max_wait_s
        # shared with every client of the endpoint when the services' caches are given
        self.limiter = (
            caches.part(Limiters).get(endpoint, lambda: RateLimiter(wait))
            if caches
            else RateLimiter(wait)
        )

    def create(self, request: Request) -> Response:
        attempt = 0
        while True:
            self.limiter.acquire()
            try:
                # the request as JSON text, encoded once by json's C encoder: given as a dict,
                # the SDK copies it value by value in Python before encoding it, on every
                # call, a cost that grows with the transcript
                sent = self._client.post(
                    "/v1/messages",
                    cast_to=httpx2.Response,
                    content=json.dumps(request, ensure_ascii=False).encode(),
                    options={"headers": {"content-type": "application/json"}},
                )
                self.limiter.release(sent.headers)
                # the message as the API sent it: the SDK's typed parse, dumped back to JSON,
                # cost a fifth of the harness's CPU per call and added a null for every
                # field the API left out
                return cast(Response, json.loads(sent.content))
            except anthropic.APIStatusError as exc:
                asked = server_wait(dict(exc.response.headers)) if exc.status_code == 429 else None
                self.limiter.release(exc.response.headers, retry_after=asked)
                wait = self._classify(exc, attempt)
            except anthropic.APIConnectionError as exc:  # includes timeouts
                self.limiter.release(None)
                stop_now()  # its run was cancelled while it waited: the request is aborted
                if attempt >= self.policy.max_retries:
                    raise ModelError(
                        f"model API unreachable after {attempt + 1} tries: {type(exc).__name__}"
                    ) from exc
                wait = self.policy.backoff(attempt)
            self.sleep(wait)
            attempt += 1

    def list_models(self) -> dict[str, Listing]:
        """Every model the key can see, by id (``GET /v1/models``, all lifecycle stages)."""
        try:
            page = self._client.models.list(
                limit=1000, lifecycle=["active", "deprecated", "retired"]
            )
            return {
                m.id: Listing(m.id, m.lifecycle, m.retires_at.date() if m.retires_at else None)
                for m in page
            }
        except anthropic.APIError as exc:
            raise ModelError(f"listing the models failed: {type(exc).__name__}: {exc}") from exc

    def run_batch(
        self, requests: dict[str, Request], wait_s: float, sent: Path
    ) -> dict[str, Response]:
        """Send ``requests`` (keyed by a 64-hex id) as one Message Batch and wait for it; its id
        is kept in ``sent`` as soon as it is made, so that a batch sent before a kill (or one
        still processing when the wait ran out) is waited for again, never sent twice.

        Returns the succeeded answers; errored ones are left out (their runs stay queued)."""
        from harness.model.batch import mark_batched

        items: list[Any] = [{"custom_id": key, "params": req} for key, req in requests.items()]
        batches = self._client.messages.batches
        known = sent.read_text("utf-8") if sent.is_file() else ""
        try:
            batch = batches.retrieve(known) if known else None
        except anthropic.NotFoundError:  # gone (a batch's results are kept 29 days): sent anew
            batch = None
        if batch is None:
            batch = batches.create(requests=items)
            write_whole(sent, batch.id)
            fault_point("model.batch.sent")
        deadline = time.monotonic() + wait_s
        delay = 0.2
        while batch.processing_status != "ended":
            if time.monotonic() > deadline:
                raise DeferredError(
                    f"message batch {batch.id} still processing after {wait_s:.0f}s", time.time()
                )
            self.sleep(delay)
            delay = min(delay * 2, 30.0)
            batch = batches.retrieve(batch.id)
        answers: dict[str, Response] = {}
        for line in batches.results(batch.id):
            if line.result.type == "succeeded":
                answer = cast(Response, line.result.message.model_dump(mode="json"))
                answers[line.custom_id] = mark_batched(answer)
        return answers

    def _classify(self, exc: anthropic.APIStatusError, attempt: int) -> float:
        """How long to wait before retrying ``exc``; raise if it must not be retried."""
        status = exc.status_code
        kind, text = _error_type(exc)
        headers = dict(exc.response.headers)
        if kind == "billing_error" or (
            status in (400, 402, 403, 429) and any(w in text.lower() for w in _QUOTA_WORDS)
        ):
            raise QuotaError(
                f"model provider refused for quota or billing ({status} {kind}): {text[:200]}"
            )
        if status == 401:
            raise ModelError("model API rejected the credentials (401): check ANTHROPIC_API_KEY")
        should = headers.get("x-should-retry", "").lower()
        if status not in RETRYABLE or should == "false":
            raise ModelError(f"model API error {status} {kind}: {text[:300]}")
        asked = server_wait(headers)
        if asked is not None and asked > self.policy.max_wait_s:
            raise DeferredError(
                f"model API asked to retry after {asked:.0f}s "
                f"(more than {self.policy.max_wait_s:.0f}s): deferred",
                time.time() + asked,
            )
        if attempt >= self.policy.max_retries:
            raise ModelError(
                f"model API error {status} {kind} after {attempt + 1} tries: {text[:200]}"
            )
        if asked is not None:
            return asked * (1.0 + 0.1 * random.random())  # honoured, with a little jitter
        return self.policy.backoff(attempt)
