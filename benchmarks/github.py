"""GitHub REST requests the factory makes, counted on the stand-in GitHub (loopback only).

Label set-up and git traffic are left out of the per-issue figures, as in the issue that
asked for them; everything else the triage makes is counted."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from harness.demo import generate
from harness.forge.base import LABELS
from harness.git.repo import GitRepo
from harness.services import open_services
from harness.testing.github_standin import GitHubStandIn, Recorded
from harness.triage.queue import triage_all

TOKEN = "ghs_benchmark_not_a_real_token_0000"


@contextmanager
def github_repo(root: Path, issues: int, per_run: int) -> Iterator[tuple[Path, GitHubStandIn]]:
    """The demo's notes app on a stand-in GitHub with ``issues`` open issues filed."""
    repo, _, _ = generate(root)
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["forge"] = "github"
    config["github"] = {"repository": "acme/app", "write_interval_s": 0.0}
    config["provider"]["type"] = "scripted"
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    rules = (repo / "factory_rules.md").read_text()
    rules = rules.replace("max_issues_per_author_per_day: 3", "max_issues_per_author_per_day: 9999")
    rules = rules.replace("max_issues_per_run: 10", f"max_issues_per_run: {per_run}")
    rules = rules.replace("per_day_usd: 10.0", "per_day_usd: 100000.0")
    rules = rules.replace("per_run_usd: 10.0", "per_run_usd: 100000.0")
    (repo / "factory_rules.md").write_text(rules)
    GitRepo(repo).commit_all("on GitHub")
    git_root = root / "github"
    (git_root / "acme").mkdir(parents=True)
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(repo), str(git_root / "acme" / "app.git")],
        check=True,
    )
    with GitHubStandIn(git_root, token=TOKEN) as hub:
        hub.ci_conclusion = "success"
        for name, (color, description) in LABELS.items():
            hub.labels[name] = {"color": color, "description": description}
        for i in range(issues):
            hub.open_issue(f"Feature number {i} for the bench", f"Please add feature {i}.")
        saved = {k: os.environ.get(k) for k in _ENV}
        os.environ.update(
            GITHUB_TOKEN=TOKEN,
            GITHUB_API_URL=hub.api_url,
            GITHUB_SERVER_URL=hub.server_url,
            GITHUB_REPOSITORY=hub.repository,
        )
        try:
            yield repo, hub
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


_ENV = ("GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_SERVER_URL", "GITHUB_REPOSITORY")


def triage_once(repo: Path) -> list[dict[str, Any]]:
    return triage_all(open_services(repo, repo / ".factory"))


def describe(requests: list[Recorded]) -> dict[str, int]:
    """Requests by method and route shape (numbers replaced), for reading a request log."""
    import re

    counts: dict[str, int] = {}
    for r in requests:
        shape = re.sub(r"/\d+", "/{n}", r.path.split("/repos/acme/app")[-1])
        key = f"{r.method} {shape}"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
