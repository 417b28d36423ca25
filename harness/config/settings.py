"""Loading everything a run needs, from the production branch, or failing with every problem."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from harness.config.errors import validated
from harness.config.governance import Governance, load_governance, read_on_branch
from harness.config.models import CONFIG_FILE, GOVERNANCE_FILES, FactoryConfig, Provider
from harness.config.network import default_allow
from harness.config.yamlload import load_model
from harness.errors import ConfigError, ConfigErrors
from harness.git.repo import GitRepo
from harness.paths import path_problem

_HOW = "commit it there ('factory init' writes one)"


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, as the production branch says."""

    root: Path
    state_dir: Path
    config: FactoryConfig
    governance: Governance
    holdout_dir: Path

    def trusts(self, author: str) -> bool:
        """Whether ``author`` is one of factory_rules.md's ``triage.trusted_authors`` (no
        daily limit; no approval label asked with ``untrusted_requires_label``): never the
        login MCP files issues as (``mcp.author``), whatever the rules list."""
        listed = author in self.governance.rules.triage.trusted_authors
        return listed and author != self.config.mcp.author


def parse_config(text: str) -> FactoryConfig:
    return load_model(FactoryConfig, text, CONFIG_FILE)


HOLDOUT_ENV = "FACTORY_HOLDOUT"


def holdout_from_env() -> str | None:
    """``$FACTORY_HOLDOUT`` when set: where a CI job put the hold-out it checked out."""
    return os.environ.get(HOLDOUT_ENV, "").strip() or None


def holdout_path(root: Path, config: FactoryConfig) -> Path:
    """The hold-out folder, resolved (symlinks too). ``$FACTORY_HOLDOUT`` wins over
    factory.yaml (relative to the current folder); factory.yaml's relative paths start at
    the repository."""
    if (raw := holdout_from_env()) is not None:
        _usable(raw, ("environment", HOLDOUT_ENV))
        return Path(raw).expanduser().resolve()
    raw = config.holdout or f"../{root.resolve().name}-holdout"
    _usable(str(root / raw), (CONFIG_FILE, "holdout"))
    path = Path(raw).expanduser()
    return (path if path.is_absolute() else root / path).resolve()


def _usable(raw: str, where: tuple[str, str]) -> None:
    """A hold-out path the system can take (checked as text: nothing is looked up yet)."""
    if problem := path_problem(raw):
        raise ConfigError(*where, problem)


def check_holdout(root: Path, holdout: Path) -> ConfigError | None:
    """An error if the hold-out and the repository overlap: agents working in the repository
    must not see the journeys, and the validator seeing the hold-out must not see the code."""
    root = root.resolve()
    where = ("environment", HOLDOUT_ENV) if holdout_from_env() else (CONFIG_FILE, "holdout")
    if holdout == root or root in holdout.parents:
        return ConfigError(*where, f"{holdout} lies inside the repository; it must be outside it")
    if holdout in root.parents:
        return ConfigError(
            *where, f"{holdout} contains the repository; it must be a folder of its own"
        )
    return None


def _committed_config(repo: GitRepo) -> FactoryConfig:
    """The committed factory.yaml that names the production branch, parsed.

    The file names its own branch, so the search starts where it usually is (main, master,
    the checked-out branch) and then follows ``production_branch`` once; the copy on the
    production branch must name that same branch."""
    for candidate in ("main", "master", ""):  # "": the checked-out one, asked only then
        candidate = candidate or repo.head_branch() or "main"
        text = read_on_branch(repo, candidate, CONFIG_FILE)
        if text is not None:
            break
    else:
        raise ConfigError(CONFIG_FILE, "(file)", f"not committed on the production branch; {_HOW}")
    config = parse_config(text)
    if (branch := config.production_branch) == candidate:
        return config
    there = read_on_branch(repo, branch, CONFIG_FILE)
    if there is None:
        problem = f"names {branch!r}, which has no committed factory.yaml; {_HOW}"
        raise ConfigError(CONFIG_FILE, "production_branch", problem)
    if (config := parse_config(there)).production_branch != branch:
        problem = f"the copy on {branch!r} names another production branch"
        raise ConfigError(CONFIG_FILE, "production_branch", problem)
    return config


def load_settings(
    root: Path, state_dir: Path, provider_override: str | None = None, sections: bool = True
) -> Settings:
    """factory.yaml and the governance files as committed on the production branch, never
    the working tree's: nothing in a candidate branch, a worktree or an uncommitted edit can
    change how the factory runs (an uncommitted factory.yaml is an error, not a fallback).
    ``sections``: whether mission.md's are checked (``governance_at``)."""
    repo = GitRepo(root)
    config = _committed_config(repo)
    problems: list[ConfigError] = []
    holdout = holdout_path(root, config)
    if (problem := check_holdout(root, holdout)) is not None:
        problems.append(problem)
    try:
        governance = load_governance(repo, config.production_branch, sections)
    except ConfigErrors as exc:
        problems += exc.problems
    if problems:
        raise ConfigErrors(problems)
    if provider_override:
        overridden = {**config.provider.model_dump(), "type": provider_override}
        provider = validated(Provider, overridden, "--provider")
        config = config.evolve(provider=provider)
    return Settings(root.resolve(), state_dir, config, governance, holdout)


def derived_allow(repo: GitRepo, commit: str) -> tuple[list[str], str, list[str]]:
    """With no ``network.allow``: the registries of the manifests at the top of the newest
    commit of ``commit``'s first-parent line that changed a governance file; that commit,
    and those manifests (``factory check`` names all three)."""
    commit = repo.last_change(commit, [*GOVERNANCE_FILES, CONFIG_FILE]) or commit
    names = [path for path in repo.tree(commit) if "/" not in path]
    return default_allow(names), commit, [name for name in names if default_allow([name])]
