"""Record/replay: every request and response written to a folder, and served back offline."""

from __future__ import annotations

import json
from pathlib import Path

from harness.digest import sha256
from harness.errors import ModelError
from harness.model.base import Model
from harness.model.blocks import Request, Response
from harness.paths import write_whole
from harness.redact import redact


def request_sha256(request: Request) -> str:
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return sha256(canonical)


class RecordingModel:
    """Wraps a model; writes ``<sha256 of request>.json`` = {request, response} per call."""

    def __init__(self, inner: Model, folder: Path) -> None:
        self.inner = inner
        self.folder = folder
        self.kind = inner.kind

    def create(self, request: Request) -> Response:
        response = self.inner.create(request)
        keep(self.folder / f"{request_sha256(request)}.json", request, response)
        return response


def keep(path: Path, request: Request, response: Response | None) -> None:
    """Write ``path`` = {request, response}, whole or not at all (no response: a request that
    waits for a batch's answer, ``harness.model.batch``)."""
    record = {"request": request, "response": response}
    write_whole(path, redact(json.dumps(record, indent=1, ensure_ascii=False)))


class ReplayModel:
    """Serves recorded responses for identical requests; an unknown request is an error."""

    kind = "replay"

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise ModelError(f"replay folder {folder} does not exist")
        self.folder = folder

    def create(self, request: Request) -> Response:
        digest = request_sha256(request)
        path = self.folder / f"{digest}.json"
        if not path.is_file():
            raise ModelError(f"no recording for request {digest[:8]} in {self.folder}")
        response: Response = json.loads(path.read_text(encoding="utf-8"))["response"]
        return response
