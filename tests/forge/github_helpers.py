"""A stand-in GitHub with a bare repository as its git remote, and forges pointed at it."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.config.models import GitHubSettings
from harness.forge.github import GitHubForge
from harness.forge.github_rest import GITHUB_RETRY
from harness.git.repo import GitRepo
from harness.model.retry import RetryPolicy
from harness.store.db import Store
from tests.factory_repo import git
from tests.standins.github_standin import GitHubStandIn

TOKEN = "ghs_CANARY_0123456789abcdefTOKEN"


@contextmanager
def standin_for(repo: Path, root: Path) -> Iterator[GitHubStandIn]:
    """Serve a bare clone of ``repo`` as ``acme/app``."""
    git_root = root / "github"
    (git_root / "acme").mkdir(parents=True)
    git(root, "clone", "-q", "--bare", str(repo), str(git_root / "acme" / "app.git"))
    with GitHubStandIn(git_root, token=TOKEN) as standin:
        standin.ci_conclusion = "success"
        yield standin


# GitHub's retry policy with short waits
FAST_RETRY = replace(GITHUB_RETRY, base_s=0.05)


def github_forge(
    standin: GitHubStandIn,
    repo: Path,
    state: Path,
    retry: RetryPolicy = FAST_RETRY,
    snapshot_max_age_s: float = 30.0,
    **options: Any,
) -> GitHubForge:
    """A forge on ``standin``; ``options`` are ``github:`` settings of factory.yaml; its
    retries wait as ``retry`` says (short waits) and its issue snapshot is read again once
    ``snapshot_max_age_s`` passed."""
    chosen = {"repository": standin.repository, "write_interval_s": 0.0, "max_wait_s": 30.0}
    forge = GitHubForge(
        Store.open(state),
        GitRepo(repo),
        TOKEN,
        GitHubSettings(**{**chosen, **options}),
        api_url=standin.api_url,
        remote_url=f"{standin.server_url}/{standin.repository}.git",
    )
    forge.http.policy = replace(retry, max_wait_s=forge.http.policy.max_wait_s)
    forge.snapshot.max_age_s = snapshot_max_age_s
    return forge


def github_env(standin: GitHubStandIn) -> dict[str, str]:
    return {
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": standin.api_url,
        "GITHUB_SERVER_URL": standin.server_url,
        "GITHUB_REPOSITORY": standin.repository,
    }


# what a stand-in holds apart from its data: its server and the routes bound to it
_MACHINERY = {"git_root", "_lock", "_server", "_thread", "_routes"}


@contextmanager
def forked(standin: GitHubStandIn, root: Path) -> Iterator[GitHubStandIn]:
    """A second stand-in GitHub holding what ``standin`` holds now — its repository copied
    under ``root``, its issues, pull requests, comments, labels, variables, CI and the
    requests it recorded — so that what one test does to it no other test sees."""
    git_root = root / "github"
    shutil.copytree(standin.git_root, git_root)
    twin = GitHubStandIn(
        git_root, standin.repository, standin.token, standin.bot_login, standin.default_branch
    )
    for name, value in vars(standin).items():
        if name not in _MACHINERY:
            setattr(twin, name, copy.deepcopy(value))
    with twin:
        yield twin
