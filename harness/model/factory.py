"""Choosing the model implementation from the provider settings."""

from __future__ import annotations

import hashlib
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from harness.errors import ConfigError
from harness.model.base import Model
from harness.model.blocks import Request, Response
from harness.model.provider import api_key, resolve_kind
from harness.model.recording import RecordingModel, ReplayModel
from harness.model.retry import RetryPolicy
from harness.model.scripted import ScriptedModel, load_script

if TYPE_CHECKING:
    from harness.caches import Caches


class _FirstAsked:
    """The Anthropic client, built when a step first asks the model: a command that asks
    none (``health``, ``lessons``, ``reject``, ``status`` …) needs no key and never imports
    the SDK."""

    kind = "anthropic"

    def __init__(self, policy: RetryPolicy, caches: Caches | None) -> None:
        self.policy = policy
        self.caches = caches

    @cached_property
    def client(self) -> Any:
        from harness.model.anthropic_model import AnthropicModel  # the SDK: seconds of CPU

        return AnthropicModel(self.policy, caches=self.caches)

    def create(self, request: Request) -> Response:
        return cast(Response, self.client.create(request))

    def run_batch(self, requests: dict[str, Request], wait_s: float) -> dict[str, Response]:
        return cast(dict[str, Response], self.client.run_batch(requests, wait_s))


def _anthropic(max_retries: int, max_wait_s: float, caches: Caches | None) -> Model:
    """With ``caches``: one client per endpoint, key and policy for all who share them (it is
    thread-safe, and building one costs a TLS context), so parallel runs share it."""
    policy = RetryPolicy(max_retries=max_retries, max_wait_s=max_wait_s)
    if caches is None:
        return _FirstAsked(policy, None)
    secret = api_key()
    key = (
        os.environ.get("ANTHROPIC_BASE_URL", ""),
        hashlib.sha256(secret.encode()).hexdigest(),
        str(max_retries),
        str(max_wait_s),
    )
    return caches.clients.get(key, lambda: _FirstAsked(policy, caches))


def build_model(
    kind: str,
    *,
    script: Path | None = None,
    record: Path | None = None,
    replay: Path | None = None,
    max_retries: int = 3,
    max_retry_wait_s: float = 60.0,
    caches: Caches | None = None,
) -> Model:
    kind = resolve_kind(kind)
    model: Model
    if kind == "anthropic":
        model = _anthropic(max_retries, max_retry_wait_s, caches)
    elif kind == "scripted":
        model = ScriptedModel(load_script(script) if script else None)
    elif kind == "replay":
        if replay is None:
            raise ConfigError(
                "factory.yaml", "provider.replay", "replay needs a folder of recordings"
            )
        model = ReplayModel(replay)
    else:
        raise ConfigError("factory.yaml", "provider.type", f"unknown provider {kind!r}")
    if record is not None and kind != "replay":
        model = RecordingModel(model, record)
    return model
