"""Choosing the model implementation from the provider settings."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from harness.caches import Memo
from harness.digest import sha256
from harness.errors import ConfigError
from harness.model.base import Model
from harness.model.blocks import Request, Response
from harness.model.provider import api_key, resolve_kind
from harness.model.recording import RecordingModel, ReplayModel
from harness.model.retry import RetryPolicy
from harness.model.scripted import ScriptedModel, load_script

if TYPE_CHECKING:
    from harness.caches import Caches


class Clients(Memo[Model]):
    """The process's model clients, one per endpoint, key and retry policy (building one
    costs a TLS context): a ``Caches.part``."""


@dataclass(eq=False)  # a client is itself, whatever it was built from
class _FirstAsked:
    """The Anthropic client, built when a step first asks the model: a command that asks
    none (``health``, ``lessons``, ``reject``, ``status`` …) needs no key and never imports
    the SDK."""

    kind = "anthropic"
    policy: RetryPolicy
    caches: Caches

    @cached_property
    def client(self) -> Any:
        from harness.model.anthropic_model import AnthropicModel  # the SDK: seconds of CPU

        return AnthropicModel(self.policy, caches=self.caches)

    def create(self, request: Request) -> Response:
        return cast(Response, self.client.create(request))

    def run_batch(
        self, requests: dict[str, Request], wait_s: float, sent: Path
    ) -> dict[str, Response]:
        return cast(dict[str, Response], self.client.run_batch(requests, wait_s, sent))


def _anthropic(policy: RetryPolicy, caches: Caches) -> Model:
    """One client per endpoint, key and policy for all who share ``caches`` (it is
    thread-safe, and building one costs a TLS context), so parallel runs share it."""
    secret = api_key()
    key = (
        os.environ.get("ANTHROPIC_BASE_URL", ""),
        sha256(secret),
        policy,
    )
    return caches.part(Clients).get(key, lambda: _FirstAsked(policy, caches))


def build_model(
    kind: str,
    *,
    script: Path | None,
    record: Path | None,
    replay: Path | None,
    retry: RetryPolicy,
    caches: Caches,
) -> Model:
    kind = resolve_kind(kind)
    model: Model
    if kind == "anthropic":
        model = _anthropic(retry, caches)
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
