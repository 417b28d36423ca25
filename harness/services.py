"""Building the engine's services for a target repository: settings, store, forge, model."""

from __future__ import annotations

from pathlib import Path

from harness.config.settings import Settings, load_settings
from harness.engine.context import Services
from harness.engine.loader import read_override
from harness.engine.templates import Templates
from harness.errors import ConfigError
from harness.forge.base import Forge
from harness.forge.local import LocalForge
from harness.git.repo import GitRepo
from harness.model.factory import build_model
from harness.store.db import Store


def make_forge(settings: Settings, store: Store, repo: GitRepo) -> Forge:
    if settings.config.forge == "local":
        return LocalForge(store, repo)
    raise ConfigError(
        "factory.yaml", "forge", "the github forge is not part of this version yet; use 'local'"
    )


def open_services(root: Path, state_dir: Path, provider: str | None = None) -> Services:
    """Load and check everything a command needs; a configuration problem stops it here."""
    settings = load_settings(root, state_dir, provider)
    store = Store.open(state_dir)
    repo = GitRepo(root)
    forge = make_forge(settings, store, repo)
    cfg = settings.config.provider
    model = build_model(
        provider or cfg.type,
        script=_resolve(root, cfg.script),
        record=_resolve(root, cfg.record),
        replay=_resolve(root, cfg.replay),
        max_retries=cfg.max_retries,
        max_retry_wait_s=cfg.max_retry_wait_s,
    )
    services = Services(
        settings=settings,
        store=store,
        forge=forge,
        model=model,
        repo=repo,
        templates=Templates(),
    )
    services.templates = Templates(lambda name: read_override(services, name))
    return services


def _resolve(root: Path, value: object) -> Path | None:
    if value is None or value == "":
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else (root / path).resolve()
