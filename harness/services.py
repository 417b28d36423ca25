"""Building the engine's services for a target repository: settings, store, forge, model."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from harness.caches import PROCESS, Caches, Memo
from harness.config.settings import Settings, load_settings
from harness.engine.context import Services
from harness.engine.loader import overrides_at
from harness.engine.templates import Templates
from harness.errors import ConfigError, UsageError
from harness.forge.base import Forge
from harness.forge.journal import JournalForge
from harness.forge.local import LocalForge
from harness.git.repo import GitRepo
from harness.model.factory import build_model
from harness.model.provider import provider_path
from harness.model.retry import RetryPolicy
from harness.store.db import Store

if TYPE_CHECKING:  # PyGithub takes a quarter second to import: only forge: github needs it
    from harness.forge.github import GitHubForge


def make_forge(settings: Settings, store: Store, repo: GitRepo, plan: Path | None) -> Forge:
    """The forge factory.yaml names; with ``plan`` (``--plan``), one that records every write
    in that folder for ``factory apply`` instead of making it."""
    if settings.config.forge == "local":
        if plan is not None:
            raise UsageError("--plan: plan mode is for forge: github (the local forge is local)")
        return LocalForge(store, repo)
    forge = github_forge(settings, store, repo)
    return JournalForge(forge, repo, plan.resolve()) if plan is not None else forge


def github_forge(settings: Settings, store: Store, repo: GitRepo) -> GitHubForge:
    """The GitHub forge from factory.yaml and the environment GitHub Actions also sets:
    ``GITHUB_TOKEN``, ``GITHUB_API_URL``, ``GITHUB_SERVER_URL``, ``GITHUB_REPOSITORY``."""
    cfg = settings.config.github
    token = os.environ.get("GITHUB_TOKEN", "").strip()
    if not token:
        raise ConfigError("environment", "GITHUB_TOKEN", "is not set; forge: github needs a token")
    repository = cfg.repository_in_use
    if not repository:
        raise ConfigError(
            "factory.yaml", "github.repository", "is not set and neither is $GITHUB_REPOSITORY"
        )
    if os.environ.get("GITHUB_ACTIONS") == "true" and not os.environ.get("FACTORY_MARKER_KEY"):
        raise ConfigError(
            "environment",
            "FACTORY_MARKER_KEY",
            "is not set: a GitHub Actions runner keeps no state between runs, so the factory "
            "needs this repository secret (any long random string) to recognise its own "
            "comments; add it under Settings → Secrets and variables → Actions (docs/github.md)",
        )
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    from harness.forge.github import GitHubForge

    return GitHubForge(
        store,
        repo,
        token,
        cfg,
        api_url=os.environ.get("GITHUB_API_URL", "https://api.github.com"),
        remote_url=f"{server}/{repository}.git",
    )


def open_services(
    root: Path,
    state_dir: Path,
    provider: str | None = None,
    settings: Settings | None = None,
    *,
    plan: Path | None = None,
    caches: Caches = PROCESS,
    sync: bool = False,
    store: Store | None = None,
) -> Services:
    """Load and check everything a command needs; a configuration problem stops it here.
    ``settings`` already loaded (for this root, state and provider) are taken as they are:
    the workers of one cycle share the cycle's, read once from one production commit.
    ``plan``: plan mode (``--plan``). ``sync``: bring the production branch up to date
    first (on GitHub: fetch it) and read the governance as production has it now. ``store``:
    the state already open (the workers of a stage share one, each with its own connection),
    closed by whoever opened it."""
    if settings is None:
        settings = load_settings(root, state_dir, provider)
    store = store or Store.open(state_dir)
    repo = GitRepo(root, own=[state_dir])
    forge = make_forge(settings, store, repo, plan)
    if sync and forge.sync(settings.config.production_branch) != settings.governance.commit:
        settings = load_settings(root, state_dir, provider)  # production moved: read it again
        forge = make_forge(settings, store, repo, plan)
    cfg = settings.config.provider
    model = build_model(
        provider or cfg.type,
        script=provider_path(root, cfg.script),
        record=provider_path(root, cfg.record),
        replay=provider_path(root, cfg.replay),
        retry=RetryPolicy(max_retries=cfg.max_retries, max_wait_s=cfg.max_retry_wait_s),
        caches=caches,
    )
    commit = settings.governance.commit
    templates = caches.part(_SharedTemplates).get(
        (str(repo.path), commit), lambda: Templates(overrides_at(repo, commit, caches))
    )
    services = Services(settings, store, forge, model, repo, templates, caches=caches)
    services.reopen = partial(
        open_services, root, state_dir, provider, settings, plan=plan, caches=caches, store=store
    )
    return services


class _SharedTemplates(Memo[Templates]):
    """One ``Templates`` per repository and governance commit: the runs of a cycle (one
    thread each) share its compiled templates instead of loading every one again."""
