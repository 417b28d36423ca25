"""The demo's notes app on a stand-in GitHub, for the GitHub forge's end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from harness.demo import generate
from harness.forge.base import factory_labels
from tests.factory_repo import git
from tests.forge.github_helpers import github_env, standin_for
from tests.standins.github_standin import GitHubStandIn

ISSUES = [
    ("owner", "Show how many notes there are", 'Under the heading, show "N notes".'),
    ("bob", "Let people pay to unlock premium notes", "Add a Stripe checkout, $3 a month."),
]


@contextmanager
def notes_on_github(root: Path) -> Iterator[tuple[Path, GitHubStandIn]]:
    """The notes app under ``root`` (its hold-out beside it), served as ``acme/app`` with
    the factory's labels, the two issues of ``ISSUES`` and one the factory filed itself."""
    repo, _, _ = generate(root)
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["forge"] = "github"
    config["github"] = {"repository": "acme/app", "write_interval_s": 0.05}
    config["provider"]["type"] = "scripted"
    config["validation"] = {"ci_poll_s": 0.2, "ci_wait_s": 2.0}
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "commit", "-qam", "on GitHub")
    with standin_for(repo, root) as hub:
        for name, (color, description) in factory_labels().items():
            hub.labels[name] = {"color": color, "description": description}
        for author, title, body in ISSUES:
            hub.open_issue(title, body, author)
        hub.open_issue("Nightly report", "Made by the factory itself.", hub.bot_login)
        yield repo, hub


@pytest.fixture
def github_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with notes_on_github(tmp_path) as (repo, hub):
        for key, value in github_env(hub).items():
            monkeypatch.setenv(key, value)
        yield repo, hub


@pytest.fixture(scope="session")
def landed(tmp_path_factory: pytest.TempPathFactory):
    """The nightly triage workflow run on GitHub Actions, issue 1 landed
    (``tests/forge/actions_scenario.py``); read-only: a test forks what it changes."""
    from tests.forge.actions_scenario import play_landed

    return play_landed(tmp_path_factory.mktemp("landed"))


@pytest.fixture(scope="session")
def healed(landed, tmp_path_factory: pytest.TempPathFactory):
    """The health workflow reverting the landed merge, once the maintainer's journey fails on
    it (``tests/forge/actions_scenario.py``); read-only."""
    from tests.forge.actions_scenario import play_healed

    return play_healed(landed, tmp_path_factory.mktemp("healed"))
