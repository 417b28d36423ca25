"""Model calls from the seal, which has no network and no key (docs/sandbox.md, "The app, the
browser and the seal"): ``SocketModel`` sends each request over a Unix socket; the harness's
``ModelForwarder`` checks it with the step's hooks, answers it with its own model and keeps a
refusal (``refusal``) so that the harness, not the seal's word, says why the validator ended."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, cast

from harness.browser.confine import SealSocket
from harness.errors import FactoryError, ModelError, SandboxError, carried
from harness.model.agent import AgentHooks, checked_call
from harness.model.base import Model
from harness.model.blocks import Request, Response
from harness.sandbox.peers import Peers, served_by

MAX_REQUEST_BYTES = 32 * 1024 * 1024
CALL_TIMEOUT_S = 3600.0  # as long as the harness's model may take: the seal's limit ends it


class _Handler(socketserver.StreamRequestHandler):
    """One request of the seal's, a line of JSON, answered with one: [status, body], the
    status as HTTP words it."""

    server: ModelForwarder

    def handle(self) -> None:
        answered: tuple[int, Response | Refusal]
        try:
            request = json.loads(self.rfile.readline(MAX_REQUEST_BYTES))
        except ValueError:  # not JSON, or not UTF-8
            answered = 400, _error("invalid_request_error", "the body is not JSON")
        else:
            answered = self.server.answer(request)
        self.wfile.write(json.dumps(answered).encode() + b"\n")


class Refusal(TypedDict):
    """An error answer, as the API words one."""

    type: str
    error: dict[str, str]


def _error(kind: str, message: str) -> Refusal:
    return {"type": "error", "error": {"type": kind, "message": message}}


class ModelForwarder(SealSocket):
    """Serves ``model`` on the Unix socket ``path`` to one sealed agent whose model is
    ``model_id`` (a request for another model is refused), each call checked and recorded
    by ``hooks``; a connection from any process but the seal's (``peers``) is refused."""

    def __init__(
        self, path: Path, model: Model, hooks: AgentHooks, model_id: str, peers: Peers
    ) -> None:
        super().__init__(path, _Handler, peers, "model socket")
        self.model = model
        self.hooks = hooks
        self.model_id = model_id
        self.refusal: FactoryError | None = None  # the first refusal that is not the model's
        self._lock = threading.Lock()  # one call at a time, as the agent loop makes them
        self._stopping = carried()  # a person's cancel of the run aborts the call it waits on

    def answer(self, request: object) -> tuple[int, Response | Refusal]:
        """(HTTP status, body) for one request from the seal (JSON, checked: the model, and
        every field the API would refuse is refused here too)."""
        if not isinstance(request, dict) or request.get("model") != self.model_id:
            return 400, _error("invalid_request_error", f"the model is {self.model_id}")
        with self._stopping(), self._lock:
            if self.refusal is not None:  # refused once: refused for good
                return 409, _error(self.refusal.kind.value, str(self.refusal))
            try:
                response, _ = checked_call(self.model, self.hooks, cast(Request, request))
            except FactoryError as exc:
                if type(exc) is not ModelError:  # the model failing is the seal's to report
                    self.refusal = exc
                return 409, _error(exc.kind.value, str(exc))
            except (KeyError, TypeError, ValueError) as exc:  # a request no model takes
                return 400, _error("invalid_request_error", f"{type(exc).__name__}: {exc}")
        return 200, response


@dataclass(frozen=True)
class SocketModel:
    """The model as the seal sees it: every request answered by the harness's forwarder on
    the Unix socket ``path``, whose listener must run as the harness's ``uid``."""

    kind = "forwarded"
    path: Path
    uid: int

    def create(self, request: Request) -> Response:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(CALL_TIMEOUT_S)
                conn.connect(str(self.path))
                served_by(conn, self.uid, "model socket")  # before a byte of the request
                conn.sendall(json.dumps(request).encode() + b"\n")
                with conn.makefile("rb") as answer:
                    status, body = json.loads(answer.readline())
        except (OSError, ValueError) as exc:  # not JSON, or not [status, body]
            # the harness's door failing is the harness's failure, never the change's
            raise SandboxError(f"the harness's model socket failed: {type(exc).__name__}") from exc
        if status != 200:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise ModelError(f"the harness refused the call: {error.get('message', body)}")
        return cast(Response, body)
