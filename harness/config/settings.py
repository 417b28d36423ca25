"""Loading everything a run needs, from the production branch, or failing with every problem."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness.config.errors import problems_from, yaml_problem
from harness.config.governance import Governance, load_governance, read_on_branch
from harness.config.models import CONFIG_FILE, FactoryConfig
from harness.errors import ConfigError, ConfigErrors
from harness.git.repo import GitRepo


@dataclass(frozen=True)
class Settings:
    root: Path
    state_dir: Path
    config: FactoryConfig
    governance: Governance
    holdout_dir: Path


def parse_config(text: str, file: str = CONFIG_FILE) -> FactoryConfig:
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigErrors([yaml_problem(file, exc)]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigErrors([ConfigError(file, "(top)", "must be a mapping of keys to values")])
    try:
        return FactoryConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigErrors(problems_from(file, exc)) from exc


def holdout_path(root: Path, config: FactoryConfig) -> Path:
    raw = config.holdout or f"../{root.name}-holdout"
    path = Path(raw).expanduser()
    return (path if path.is_absolute() else root / path).resolve()


def check_holdout(root: Path, holdout: Path) -> ConfigError | None:
    root = root.resolve()
    if holdout == root or root in holdout.parents:
        return ConfigError(
            CONFIG_FILE, "holdout", f"{holdout} lies inside the repository; it must be outside it"
        )
    return None


def load_settings(root: Path, state_dir: Path, provider_override: str | None = None) -> Settings:
    """factory.yaml and the governance files as committed on the production branch.

    Wiring and governance come from the production branch only, so nothing in a
    candidate branch or an uncommitted edit can change how the factory runs.
    """
    repo = GitRepo(root)
    problems: list[ConfigError] = []
    branch = "main"
    head = repo.head_branch()
    text = None
    for candidate in dict.fromkeys(["main", head or "main"]):
        text = read_on_branch(repo, candidate, CONFIG_FILE)
        if text is not None:
            branch = candidate
            break
    if text is None:
        raise ConfigErrors(
            [
                ConfigError(
                    CONFIG_FILE,
                    "(file)",
                    "not committed on the production branch (run 'factory init', then commit it)",
                )
            ]
        )
    config = parse_config(text)
    if config.production_branch != branch:
        text = read_on_branch(repo, config.production_branch, CONFIG_FILE)
        if text is None:
            raise ConfigErrors(
                [
                    ConfigError(
                        CONFIG_FILE,
                        "production_branch",
                        f"branch {config.production_branch!r} has no committed factory.yaml",
                    )
                ]
            )
        config = parse_config(text)
    holdout = holdout_path(root, config)
    if (problem := check_holdout(root, holdout)) is not None:
        problems.append(problem)
    try:
        governance = load_governance(repo, config.production_branch)
    except ConfigErrors as exc:
        problems += exc.problems
    if problems:
        raise ConfigErrors(problems)
    if provider_override:
        config = config.model_copy(
            update={"provider": config.provider.model_copy(update={"type": provider_override})}
        )
    return Settings(root, state_dir, config, governance, holdout)
