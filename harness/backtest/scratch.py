"""The scratch place one case is rehearsed in: a repository holding the case's ``base`` and
nothing after it, with the rehearsed governance committed on top as its production branch;
a state folder of its own (runs, transcripts, evidence, the local forge with the case's
issue); settings read from that repository like any run's, wired to the local forge and to
the factory's own hold-out and model. The factory's forge, state and production branch are
not in reach of anything built here: there is nothing to write them with."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from harness.backtest.cases import Case
from harness.config.governance import governance_at, read_at
from harness.config.models import CONFIG_FILE, GOVERNANCE_FILES, FactoryConfig
from harness.config.settings import Settings, holdout_path, load_settings, parse_config
from harness.engine.context import Services
from harness.errors import ConfigError, ConfigErrors, UsageError
from harness.git import snapshot
from harness.git.repo import GitRepo
from harness.git.worktrees import WorktreeManager, recorded_tmpfs
from harness.model.provider import provider_path
from harness.services import open_services
from harness.store.db import Store

OVERRIDES = ".factory/"  # workflow, prompt and validator overrides travel with the governance


@dataclass(frozen=True)
class Rehearsed:
    """The governance a backtest rehearses: production's, or a commit's (``--governance``,
    an ``edit``), and the files every case's scratch repository gets from it: the governance
    files, factory.yaml and the tracked overrides under ``.factory/``."""

    commit: str
    edit: bool
    config: FactoryConfig
    files: dict[str, tuple[str, bytes]]  # path -> (git file mode, bytes)


def rehearsed_governance(repo: GitRepo, production: str, rev: str | None) -> Rehearsed:
    """The governance at ``rev`` (production's tip when None), checked as a run would read it
    (one line when it would not load)."""
    ref = rev if rev is not None else f"refs/heads/{production}"
    commit = repo.rev_parse(ref) if not ref.startswith("-") else None
    if commit is None:
        raise UsageError(f"--governance {rev}: names no commit of this repository")
    where = f"(at {rev})" if rev is not None else "(on production)"
    text = read_at(repo, commit, CONFIG_FILE)
    if text is None:
        raise ConfigError(CONFIG_FILE, "(file)", f"missing {where}")
    try:
        config = parse_config(text)
        governance_at(repo, commit, where)
    except ConfigErrors as exc:
        raise exc.first(where) from None
    paths = [*GOVERNANCE_FILES, CONFIG_FILE, *repo.list_tree(commit, OVERRIDES)]
    modes = snapshot.file_modes(repo, commit, paths).items()
    files = {
        p: (mode, data) for p, mode in modes if (data := repo.read_blob(commit, p)) is not None
    }
    return Rehearsed(commit=commit, edit=rev is not None, config=config, files=files)


@dataclass(frozen=True)
class Place:
    """Where one case of one backtest lives: ``repo.git`` and ``state`` in ``folder``."""

    folder: Path

    @property
    def repo(self) -> Path:
        return self.folder / "repo.git"

    @property
    def state(self) -> Path:
        return self.folder / "state"


def scratch_repository(place: Place, case: Case, source: GitRepo, rehearsed: Rehearsed) -> None:
    """Make the case's repository at ``place.repo`` (again if a kill left it half made):
    ``base`` fetched from ``source`` with its history alone, and the production branch one
    commit on it that puts the rehearsed governance in place."""
    branch = rehearsed.config.production_branch
    if (place.repo / "HEAD").is_file():
        existing = GitRepo(place.repo)
        if existing.rev_parse(f"refs/heads/{branch}") is not None:
            return  # made whole before
    shutil.rmtree(place.repo, ignore_errors=True)
    repo = GitRepo.init(place.repo, branch, bare=True)
    snapshot.fetch_commit(repo, str(source.path), case.base, snapshot.BASE_REF)
    drop = [p for p in repo.list_tree(case.base, OVERRIDES) if p not in rehearsed.files]
    message = (
        f"Rehearsal: the governance of {rehearsed.commit[:12]} over {case.base[:12]}\n\n"
        "factory backtest rebuilt this repository to rehearse an issue."
    )
    made = snapshot.commit_over(repo, case.base, rehearsed.files, drop, message)
    snapshot.set_ref(repo, f"refs/heads/{branch}", made)


def scratch_settings(place: Place, real: Settings, provider: str | None) -> Settings:
    """The settings a run reads from the scratch repository, wired to what stays the
    factory's own: the local forge (in the scratch state), the hold-out, and the model's
    script or recordings (paths read from the factory's repository)."""
    try:
        loaded = load_settings(place.repo, place.state, provider)
    except ConfigErrors as exc:
        raise exc.first("(in the rehearsal)") from None
    cfg = loaded.config
    given = {key: getattr(cfg.provider, key) for key in ("script", "record", "replay")}
    paths = {k: str(path) if (path := provider_path(real.root, v)) else v for k, v in given.items()}
    config = cfg.evolve(forge="local", provider=cfg.provider.evolve(**paths))
    return replace(loaded, config=config, holdout_dir=holdout_path(real.root, config))


def scratch_services(settings: Settings, provider: str | None, outer: Store) -> Services:
    """The case's services: its scratch state, repository and local forge (``settings``:
    ``scratch_settings``'s); the factory's kill switch (in ``outer``) stops its runs too."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    services = open_services(settings.root, settings.state_dir, provider, settings)
    services.outer_store = outer
    return services


def scratch_issue(services: Services, case: Case) -> int:
    """The case's issue on the scratch forge (filed once: its title, body and author)."""
    found = services.forge.list_issues("all")
    if found:
        return found[0].number
    return services.forge.create_issue(case.title, case.body, case.author).number


def clear_worktrees(services: Services) -> None:
    """A finished case's worktrees, the copies its checks left and the set-up trees it kept:
    the case was their last user (tmpfs is memory)."""
    manager = WorktreeManager.of(services.repo, services.settings.state_dir)
    for path in manager.list():
        manager.remove(path)
    shutil.rmtree(manager.base_dir, ignore_errors=True)
    released(services.settings.state_dir)


def released(state: Path) -> list[Path]:
    """The scratch state ``state``'s folder on tmpfs (worktrees, check copies, set-up trees),
    removed."""
    made = recorded_tmpfs(state)
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)
    return [made] if made else []
