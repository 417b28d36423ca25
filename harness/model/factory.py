"""Choosing the model implementation from the provider settings."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from harness.config.provider import resolve_kind
from harness.errors import ConfigError
from harness.model.base import Model
from harness.model.recording import RecordingModel, ReplayModel
from harness.model.retry import RetryPolicy
from harness.model.scripted import ScriptedModel, load_script

if TYPE_CHECKING:
    from harness.caches import Caches


def _anthropic(max_retries: int, max_wait_s: float, caches: Caches | None) -> Model:
    """With ``caches``: one client per endpoint, key and policy for all who share them (it is
    thread-safe, and building one costs a TLS context), so parallel runs share it."""
    from harness.model.anthropic_model import AnthropicModel

    policy = RetryPolicy(max_retries=max_retries, max_wait_s=max_wait_s)
    if caches is None:
        return AnthropicModel(policy)
    secret = os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN") or ""
    key = (
        os.environ.get("ANTHROPIC_BASE_URL", ""),
        hashlib.sha256(secret.encode()).hexdigest(),
        str(max_retries),
        str(max_wait_s),
    )
    return caches.clients.get(key, lambda: AnthropicModel(policy, caches=caches))


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
