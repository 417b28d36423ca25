"""Which model provider a command will use, and whether it has what it needs.

Offline is honest: the scripted model without a file of answers cannot judge anything, so
a command that needs a model refuses to start with one line saying what to set, instead
of labelling every issue "needs info"."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from harness.config.models import Provider
from harness.errors import ConfigError, ConfigErrors

if TYPE_CHECKING:
    from harness.config.settings import Settings

SCRIPT_HINT = (
    "set ANTHROPIC_API_KEY for Claude, or point provider.script in factory.yaml at a file of "
    "scripted answers ('factory init --provider scripted' writes a commented example)"
)


@dataclass(frozen=True)
class ProviderReadiness:
    """A provider's readiness, as JSON output shows it too (``doctor --json``)."""

    provider: str  # anthropic | scripted | replay, after "auto" is resolved
    ready: bool
    detail: str


def api_key() -> str:
    """The Anthropic credentials the SDK reads from the environment ("" when none is set)."""
    return os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN") or ""


def resolve_kind(kind: str) -> str:
    """``auto``: the Anthropic API when a key is set, else the scripted model."""
    if kind == "auto":
        return "anthropic" if os.environ.get("ANTHROPIC_API_KEY") else "scripted"
    return kind


def provider_path(root: Path, value: str | None) -> Path | None:
    """A provider's file or folder (``script``, ``record``, ``replay``), relative to ``root``."""
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else (root / path).resolve()


def provider_readiness(
    root: Path, provider: Provider, override: str | None = None
) -> ProviderReadiness:
    """What ``provider`` (or ``override``) resolves to here, and whether it can answer."""
    kind = resolve_kind(override or provider.type)
    unready = partial(ProviderReadiness, kind, False)
    if kind == "anthropic":
        if not api_key():
            return unready("ANTHROPIC_API_KEY is not set; set it, or run offline: " + SCRIPT_HINT)
        where = os.environ.get("ANTHROPIC_BASE_URL") or "the Anthropic API"
        return ProviderReadiness(kind, True, f"ANTHROPIC_API_KEY is set; calls go to {where}")
    if kind == "replay":
        folder = provider_path(root, provider.replay)
        if folder is None or not folder.is_dir():
            return unready(f"provider.replay: {folder} is not a folder")
        return ProviderReadiness(kind, True, f"recorded answers from {folder}")
    script = provider_path(root, provider.script)
    if script is None:
        why = "no ANTHROPIC_API_KEY and " if provider.type == "auto" else ""
        return unready(f"scripted model: {why}no scripted answers; " + SCRIPT_HINT)
    if not script.is_file():
        return unready(f"provider.script: {script} does not exist")
    from harness.model.scripted import load_script  # what a run would load

    try:
        load_script(script)
    except ConfigErrors as exc:
        return unready(f"provider.script: {exc.problems[0]}")
    return ProviderReadiness(kind, True, f"scripted answers from {script} (offline)")


def require_model(settings: Settings, override: str | None) -> None:
    """Refuse to start work no model could do (one line: what to set)."""
    ready = provider_readiness(settings.root, settings.config.provider, override)
    if not ready.ready:
        raise ConfigError("factory.yaml", "provider", f"{ready.provider}: {ready.detail}")
