"""Batched model calls (the Message Batches API, half price) for work that can wait.

A first pass runs every workflow with ``BatchCollector`` as its model: the first request
of each agent is queued and the run stops at that step. The queue goes out as ONE batch;
a second pass resumes the runs and the collector serves each identical request from the
batch's results (marked ``_batch`` so the call is priced at the batch rate)."""

from __future__ import annotations

from harness.errors import BatchPending
from harness.model.base import Model
from harness.model.blocks import Request, Response
from harness.model.recording import request_sha256


class BatchCollector:
    def __init__(self, inner: Model) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.pending: dict[str, Request] = {}
        self.served: dict[str, Response] = {}

    def create(self, request: Request) -> Response:
        key = request_sha256(request)
        if key in self.served:
            return self.served[key]
        self.pending[key] = request
        raise BatchPending(f"request {key[:8]} queued for a message batch")

    def flush(self, wait_s: float) -> int:
        """Send every queued request as one batch; return how many were answered."""
        if not self.pending:
            return 0
        run_batch = getattr(self.inner, "run_batch", None)
        if run_batch is not None:
            answers: dict[str, Response] = run_batch(self.pending, wait_s)
        else:  # offline models answer at once, at no discount
            answers = {k: self.inner.create(r) for k, r in self.pending.items()}
        for key, response in answers.items():
            self.served[key] = response
            self.pending.pop(key, None)
        return len(answers)


def mark_batched(response: Response) -> Response:
    return {**response, "_batch": True}
