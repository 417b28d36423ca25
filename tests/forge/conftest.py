"""The demo's notes app on a stand-in GitHub, for the GitHub forge's end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.demo import generate
from harness.forge.base import LABELS
from tests.factory_repo import git
from tests.forge.github_helpers import github_env, standin_for

ISSUES = [
    ("owner", "Show how many notes there are", 'Under the heading, show "N notes".'),
    ("bob", "Let people pay to unlock premium notes", "Add a Stripe checkout, $3 a month."),
]


@pytest.fixture
def github_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    repo, _, _ = generate(tmp_path)
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["forge"] = "github"
    config["github"] = {"repository": "acme/app", "write_interval_s": 0.05}
    config["provider"]["type"] = "scripted"
    config["validation"] = {"ci_poll_s": 0.2, "ci_wait_s": 2.0}
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "commit", "-qam", "on GitHub")
    with standin_for(repo, tmp_path) as hub:
        for name, (color, description) in LABELS.items():
            hub.labels[name] = {"color": color, "description": description}
        for author, title, body in ISSUES:
            hub.open_issue(title, body, author)
        hub.open_issue("Nightly report", "Made by the factory itself.", hub.bot_login)
        for key, value in github_env(hub).items():
            monkeypatch.setenv(key, value)
        yield repo, hub
