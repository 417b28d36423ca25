"""Batched model calls (the Message Batches API, half price) for work that can wait.

A run whose inputs say ``batch`` asks its agents' model through ``BatchCollector``, over the
run's own folder: a request answered there is served from it; any other is kept there and the
run stops at that step (``BatchPending``). ``send`` sends the requests the runs wait on as ONE
batch and keeps each answer beside its request (marked ``_batch``: priced at the batch rate),
for the runs resumed. Kept in files, what a kill interrupts is asked again, never an answer
already kept."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import cast

from harness.errors import BatchPending
from harness.model.base import Model
from harness.model.blocks import Request, Response
from harness.model.recording import keep, request_sha256


def batch_folder(state_dir: Path, run_id: str) -> Path:
    """Where run ``run_id`` keeps its requests for a batch and their answers."""
    return state_dir / "batch" / run_id


class BatchCollector:
    def __init__(self, inner: Model, folder: Path) -> None:
        self.kind = inner.kind
        self.folder = folder

    def create(self, request: Request) -> Response:
        path = self.folder / f"{request_sha256(request)}.json"
        kept = json.loads(path.read_text("utf-8")) if path.is_file() else {}
        if kept.get("response"):
            return cast(Response, kept["response"])
        keep(path, request, None)
        raise BatchPending(f"request {path.stem[:8]} queued for a message batch")


def send(model: Model, folders: Iterable[Path], wait_s: float, sent: Path) -> int:
    """Send every request the runs of ``folders`` wait on as one batch (its id kept in
    ``sent`` until its answers are: a batch sent before a kill is not sent again); keep each
    answer beside its request. How many were answered."""
    kept = {path: json.loads(path.read_text("utf-8")) for f in folders for path in f.glob("*.json")}
    waiting = {path.stem: path for path, record in kept.items() if not record["response"]}
    if not waiting:
        return 0
    requests = {key: kept[path]["request"] for key, path in waiting.items()}
    run_batch = getattr(model, "run_batch", None)
    if run_batch is not None:
        answers: dict[str, Response] = run_batch(requests, wait_s, sent)
    else:  # offline models answer at once, at no discount
        answers = {key: model.create(request) for key, request in requests.items()}
    answered = answers.keys() & waiting.keys()  # a batch sent before a kill: those it holds
    for key in answered:
        keep(waiting[key], requests[key], answers[key])
    sent.unlink(missing_ok=True)
    return len(answered)


def mark_batched(response: Response) -> Response:
    return {**response, "_batch": True}
