"""The Message Batches API of the stand-in: create, retrieve, results (JSONL), like the real one."""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class Answerer(Protocol):
    def check(self, body: Any) -> str | None: ...
    def answer(self, body: dict[str, Any]) -> dict[str, Any]: ...


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Batch:
    id: str
    created: float
    ready_at: float
    results: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self, base_url: str, now: float) -> dict[str, Any]:
        ended = now >= self.ready_at
        ok = sum(1 for r in self.results if r["result"]["type"] == "succeeded")
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": {
                "processing": 0 if ended else len(self.results),
                "succeeded": ok if ended else 0,
                "errored": len(self.results) - ok if ended else 0,
                "canceled": 0,
                "expired": 0,
            },
            "ended_at": _iso(self.ready_at) if ended else None,
            "created_at": _iso(self.created),
            "expires_at": _iso(self.created + 86400),
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": f"{base_url}/v1/messages/batches/{self.id}/results" if ended else None,
        }


class Batches:
    """Batches answered at once but reported ``in_progress`` for ``delay_s``."""

    def __init__(self, answerer: Answerer, delay_s: float = 0.2) -> None:
        self.answerer, self.delay_s = answerer, delay_s
        self.batches: dict[str, Batch] = {}
        self.creates = 0
        self._lock = threading.Lock()

    def create(self, body: Any) -> tuple[int, dict[str, Any]] | Batch:
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return 400, {"message": "requests: at least one request is required"}
        seen: set[str] = set()
        for i, item in enumerate(requests):
            cid = item.get("custom_id") if isinstance(item, dict) else None
            if not isinstance(cid, str) or not CUSTOM_ID.match(cid):
                return 400, {"message": f"requests.{i}.custom_id: String should match pattern"}
            if cid in seen:
                return 400, {"message": f"requests: custom_id {cid!r} is not unique"}
            seen.add(cid)
        now = time.time()
        batch = Batch("msgbatch_" + secrets.token_hex(12), now, now + self.delay_s)
        for item in requests:
            params = item.get("params")
            problem = self.answerer.check(params)
            if problem is not None:
                error = {
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": problem},
                }
                batch.results.append(
                    {"custom_id": item["custom_id"], "result": {"type": "errored", "error": error}}
                )
            else:
                message = self.answerer.answer(params)
                batch.results.append(
                    {
                        "custom_id": item["custom_id"],
                        "result": {"type": "succeeded", "message": message},
                    }
                )
        with self._lock:
            self.batches[batch.id] = batch
            self.creates += 1
        return batch

    def get(self, batch_id: str) -> Batch | None:
        with self._lock:
            return self.batches.get(batch_id)
