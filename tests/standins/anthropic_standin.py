"""A stand-in for the Anthropic Messages API on 127.0.0.1, driven through the real SDK.

Strict about request shape (the real API's 400s), realistic usage with prompt-cache
accounting, ``anthropic-ratelimit-*`` headers, an optional requests-per-minute limit,
and injectable faults (429/529/500 with ``retry-after``). Answers come from a
responder: any ``Model`` (usually the scripted model).
"""

from __future__ import annotations

import json
import secrets
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from harness.model.base import Model
from harness.model.blocks import Request, estimate_tokens
from tests.standins.batches import Batch, Batches
from tests.standins.cache_usage import prompt_usage
from tests.standins.messages_rules import check_request
from tests.standins.models_list import default_listings, page
from tests.standins.thinking_rules import ThinkingLedger

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


HOLD_S = 120.0  # how long a held request waits for its client to go away before it is answered


@dataclass
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    error_type: str | None = None
    message: str = "injected fault"


def _tokens(value: Any) -> int:
    return estimate_tokens(value)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, *args: Any) -> None:
        return

    def _reply(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_" + secrets.token_hex(8))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(
        self,
        status: int,
        message: str,
        kind: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        kind = kind or ERROR_TYPES.get(status, "api_error")
        self._reply(status, {"type": "error", "error": {"type": kind, "message": message}}, headers)

    def _authorised(self, headers: dict[str, str]) -> bool:
        if not (headers.get("x-api-key") or headers.get("authorization", "").startswith("Bearer ")):
            self._error(401, "invalid x-api-key")
            return False
        if "anthropic-version" not in headers:
            self._error(400, "anthropic-version: header is required")
            return False
        return True

    def do_GET(self) -> None:
        standin = self.server.standin
        headers = {k.lower(): v for k, v in self.headers.items()}
        standin.received_get.append((headers, self.path))
        if not self._authorised(headers):
            return
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts == ["v1", "models"]:
            self._reply(200, page(standin.models))
            return
        if parts[:3] != ["v1", "messages", "batches"] or len(parts) not in (4, 5):
            self._error(404, f"no route {self.path}")
            return
        batch = standin.batches.get(parts[3])
        if batch is None:
            self._error(404, f"batch {parts[3]} not found")
            return
        if len(parts) == 4:
            self._reply(200, batch.to_json(standin.url, time.time()))
            return
        if time.time() < batch.ready_at:
            self._error(400, "batch is still processing")
            return
        data = "".join(json.dumps(r) + "\n" for r in batch.results).encode()
        self.send_response(200)
        self.send_header("content-type", "application/binary")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        standin = self.server.standin
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        arrived = time.monotonic()
        if len(raw) < length:  # the client went away mid-request (killed): nothing to answer
            self.close_connection = True
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError:
            body = None
        path = self.path.split("?")[0]
        if path == "/v1/messages/batches":
            standin.received_batches.append((headers, body))
            if not self._authorised(headers):
                return
            created = standin.batches.create(body)
            if isinstance(created, Batch):
                self._reply(200, created.to_json(standin.url, time.time()))
            else:
                self._error(created[0], created[1]["message"])
            return
        standin.received.append((headers, body))
        if path != "/v1/messages":
            self._error(404, f"no route {self.path}")
            return
        if not self._authorised(headers):
            return
        fault = standin.next_fault()
        if fault is not None:
            self._error(fault.status, fault.message, fault.error_type, fault.headers)
            return
        limited = standin.over_rate_limit()
        if limited is not None:
            self._error(
                429, "Number of requests has exceeded your per-minute rate limit", None, limited
            )
            return
        problem = standin.check(body)
        if problem is not None:
            standin.violations.append(problem)
            self._error(400, problem)
            return
        if standin.hold is not None and standin.hold(body) and self._left():
            standin.abandoned.append(body)  # the client aborted while the model "answered"
            self.close_connection = True
            return
        # the answer leaves latency_s after the request arrived, its making included, as a
        # model elsewhere answers: the stand-in's own work, on the caller's CPUs, adds nothing
        response = standin.answer(body)
        time.sleep(max(0.0, arrived + standin.latency_s - time.monotonic()))
        self._reply(200, response, standin.rate_headers())

    def _left(self) -> bool:
        """Whether the client closed the connection within ``HOLD_S`` (a held request)."""
        deadline = time.monotonic() + HOLD_S
        while time.monotonic() < deadline:
            if select.select([self.connection], [], [], 0.05)[0]:
                return not self.connection.recv(1, socket.MSG_PEEK)
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # sixteen clients connecting at once: with socketserver's backlog of 5 the kernel drops
    # the rest of the SYNs and the clients send them again a second later, as the real API's
    # front end never makes them
    request_queue_size = 128
    standin: AnthropicStandIn


class AnthropicStandIn:
    """Use as a context manager; point ``ANTHROPIC_BASE_URL`` at ``.url``."""

    def __init__(
        self,
        responder: Model,
        latency_s: float = 0.0,
        rpm_limit: int | None = None,
        window_s: float = 60.0,
    ) -> None:
        self.responder = responder
        self.latency_s = latency_s
        self.rpm_limit = rpm_limit
        self.window_s = window_s  # the limit's window: 60 s like the API, shorter in benchmarks
        self.rate_limited = 0
        self.received: list[tuple[dict[str, str], Any]] = []
        self.received_batches: list[tuple[dict[str, str], Any]] = []
        self.received_get: list[tuple[dict[str, str], str]] = []
        self.batches = Batches(self)
        self.violations: list[str] = []
        # a request ``hold`` says yes to is answered only if its client has not closed the
        # connection within HOLD_S (a model answering slowly); those it closed: ``abandoned``
        self.hold: Callable[[Any], bool] | None = None
        self.abandoned: list[Any] = []
        self.thinking = ThinkingLedger()
        self.models = default_listings()  # what GET /v1/models answers
        self._faults: deque[Fault] = deque()
        self._cache: set[str] = set()
        self._window: deque[float] = deque()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.standin = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> AnthropicStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # faults and limits ---------------------------------------------------------
    def fail_next(
        self,
        status: int,
        headers: dict[str, str] | None = None,
        times: int = 1,
        error_type: str | None = None,
        message: str = "injected fault",
    ) -> None:
        with self._lock:
            for _ in range(times):
                self._faults.append(Fault(status, dict(headers or {}), error_type, message))

    def next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def over_rate_limit(self) -> dict[str, str] | None:
        if self.rpm_limit is None:
            return None
        now = time.time()
        with self._lock:
            while self._window and now - self._window[0] >= self.window_s:
                self._window.popleft()
            if len(self._window) >= self.rpm_limit:
                self.rate_limited += 1
                wait = self.window_s - (now - self._window[0])
                return {"retry-after": str(max(1, int(wait + 0.999))), **self.rate_headers()}
            self._window.append(now)
        return None

    def rate_headers(self) -> dict[str, str]:
        """``anthropic-ratelimit-*``: remaining requests in the window and when it frees up."""
        limit = self.rpm_limit or 4000
        used = len(self._window) if self.rpm_limit else 0
        oldest = self._window[0] if self._window else time.time()
        reset = datetime.fromtimestamp(oldest + self.window_s, UTC).isoformat()
        reset = reset.replace("+00:00", "Z")
        headers = {
            "anthropic-ratelimit-requests-limit": str(limit),
            "anthropic-ratelimit-requests-remaining": str(max(0, limit - used)),
            "anthropic-ratelimit-requests-reset": reset,
        }
        for kind, tokens in (
            ("tokens", 480_000),
            ("input-tokens", 400_000),
            ("output-tokens", 80_000),
        ):
            headers[f"anthropic-ratelimit-{kind}-limit"] = str(tokens)
            headers[f"anthropic-ratelimit-{kind}-remaining"] = str(tokens)
            headers[f"anthropic-ratelimit-{kind}-reset"] = reset
        return headers

    # answers -------------------------------------------------------------------
    def usage(self, body: dict[str, Any]) -> dict[str, Any]:
        """Input tokens split like the API: cache reads, cache writes (by lifetime), the rest."""
        with self._lock:
            return prompt_usage(body, self._cache)

    def check(self, body: Any) -> str | None:
        """The first reason the real API would refuse ``body`` with 400, or None."""
        return check_request(body) or self.thinking.check(body)

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.responder.create(cast(Request, body))
        content = self.thinking.sign(body, [dict(block) for block in response["content"]])
        return {
            "id": "msg_" + secrets.token_hex(12),
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": response.get("stop_reason", "end_turn"),
            "stop_sequence": None,
            "stop_details": response.get("stop_details"),
            "usage": {**self.usage(body), "output_tokens": _tokens(content)},
        }
