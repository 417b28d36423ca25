"""Choosing the model implementation from the provider settings."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from harness.errors import ConfigError
from harness.model.base import Model
from harness.model.recording import RecordingModel, ReplayModel
from harness.model.retry import RetryPolicy
from harness.model.scripted import ScriptedModel, load_script

_CLIENTS: dict[tuple[str, ...], Model] = {}
_LOCK = threading.Lock()


def _shared_anthropic(max_retries: int, max_wait_s: float) -> Model:
    """One client per endpoint, key and policy for the whole process (it is thread-safe, and
    building one costs a TLS context), shared by parallel runs."""
    from harness.model.anthropic_model import AnthropicModel

    secret = os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN") or ""
    key = (
        os.environ.get("ANTHROPIC_BASE_URL", ""),
        hashlib.sha256(secret.encode()).hexdigest(),
        str(max_retries),
        str(max_wait_s),
    )
    with _LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = AnthropicModel(
                RetryPolicy(max_retries=max_retries, max_wait_s=max_wait_s)
            )
        return _CLIENTS[key]


def resolve_kind(kind: str) -> str:
    if kind == "auto":
        return "anthropic" if os.environ.get("ANTHROPIC_API_KEY") else "scripted"
    return kind


def build_model(
    kind: str,
    *,
    script: Path | None = None,
    record: Path | None = None,
    replay: Path | None = None,
    max_retries: int = 3,
    max_retry_wait_s: float = 60.0,
) -> Model:
    kind = resolve_kind(kind)
    model: Model
    if kind == "anthropic":
        model = _shared_anthropic(max_retries, max_retry_wait_s)
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
