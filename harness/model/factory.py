"""Choosing the model implementation from the provider settings."""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import ConfigError
from harness.model.base import Model
from harness.model.recording import RecordingModel, ReplayModel
from harness.model.retry import RetryPolicy
from harness.model.scripted import ScriptedModel, load_script


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
        from harness.model.anthropic_model import AnthropicModel

        model = AnthropicModel(RetryPolicy(max_retries=max_retries, max_wait_s=max_retry_wait_s))
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
