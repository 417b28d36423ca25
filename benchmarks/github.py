"""GitHub REST requests the factory makes, counted on the stand-in GitHub (loopback only).

Label set-up and git traffic are left out of the per-issue figures, as in the issue that
asked for them; everything else the triage makes is counted."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from benchmarks.figures import Figure
from harness.cycle import run_cycle
from harness.demo import generate
from harness.forge.base import factory_labels
from harness.git.repo import GitRepo
from harness.services import open_services
from harness.triage.queue import TriageRow, triage_all
from tests.standins.github_standin import GitHubStandIn, Recorded

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
        hub.rate_limit = hub.rate_remaining = APP_MAX  # room for 1,000 issues in one run
        for name, (color, description) in factory_labels().items():
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


def triage_once(repo: Path) -> list[TriageRow]:
    return triage_all(open_services(repo, repo / ".factory"))


def describe(requests: list[Recorded]) -> dict[str, int]:
    """Requests by method and route shape (numbers replaced), for reading a request log."""
    counts: dict[str, int] = {}
    for r in requests:
        shape = re.sub(r"/\d+", "/{n}", r.path.split("/repos/acme/app")[-1])
        key = f"{r.method} {shape}"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


# GitHub's published limits (REST, per hour): the Actions token per repository, a personal
# token, a GitHub App installation (5,000 rising with users and repositories to 12,500), and
# the secondary limit on content-creating requests (80 a minute, 500 an hour) for them all.
LIMITS = (("GITHUB_TOKEN", 1000), ("personal token", 5000), ("GitHub App", 5000))
APP_MAX, WRITES_PER_HOUR = 12_500, 500
SETUP = re.compile(r"/repos/[^/]+/[^/]+/labels$")  # label set-up: once per repository, left out


@dataclass
class Count:
    counted: int  # requests that count against the limit (a 304 does not)
    writes: int  # content-creating requests (POST, PATCH, PUT, DELETE)
    not_modified: int


def count(hub: GitHubStandIn, since: int = 0, not_modified: int = 0) -> Count:
    rest_requests = [
        r
        for r in hub.requests[since:]
        if "/api/v3/" in r.path and not SETUP.search(r.path) and ".git" not in r.path
    ]
    fresh = hub.not_modified - not_modified
    writes = [r for r in rest_requests if r.method != "GET"]
    return Count(len(rest_requests) - fresh, len(writes), fresh)


def triage_costs(sizes: tuple[int, ...]) -> tuple[dict[int, Count], Count]:
    """Requests per triaged issue at each size (every issue in one run), and those of a
    second run with nothing new at the largest size."""
    costs: dict[int, Count] = {}
    idle = Count(0, 0, 0)
    for n in sizes:
        root = Path(tempfile.mkdtemp(prefix="factory-bench-github-"))
        with github_repo(root, n, n) as (repo, hub):
            rows = triage_once(repo)
            assert len(rows) == n, rows[:2]
            costs[n] = count(hub)
            before, not_modified = len(hub.requests), hub.not_modified
            assert triage_once(repo) == []
            idle = count(hub, before, not_modified)
    return costs, idle


def merged_issue_cost() -> Count:
    """``factory run --once`` on one issue: triage, implement, validate in a real browser,
    merge through the API."""
    root = Path(tempfile.mkdtemp(prefix="factory-bench-github-"))
    with github_repo(root, 0, 10) as (repo, hub):
        hub.open_issue(
            "Show how many notes there are", 'Under the heading, show "N notes".', "owner"
        )
        run_cycle(repo, repo / ".factory", None, 1, lambda _: None)
        assert [p.merged for p in hub.pulls.values()] == [True], "the issue was not merged"
        return count(hub)


def per_hour(requests: float, writes: float) -> str:
    """Issues an hour under each limit: the primary one or, if tighter, the 500 writes."""
    parts = []
    for name, limit in LIMITS:
        top = f"–{APP_MAX / requests:,.0f}" if name == "GitHub App" else ""
        primary = f"{limit / requests:,.0f}{top}"
        parts.append(f"{name} {limit:,}/h: {primary}")
    return (
        "; ".join(parts)
        + f" (content-creating requests cap all at {WRITES_PER_HOUR / writes:,.0f})"
    )


def github_figures(sizes: tuple[int, ...] = (10, 100, 1000)) -> list[Figure]:
    costs, idle = triage_costs(sizes)
    per = {n: c.counted / n for n, c in costs.items()}
    worst = max(per.values())
    writes = max(c.writes / n for n, c in costs.items())
    merged = merged_issue_cost()
    listed = " / ".join(f"{per[n]:.2f}" for n in sizes)
    at = " / ".join(f"{n:,}" for n in sizes)
    return [
        Figure(
            "GitHub requests per triaged issue",
            f"{listed} at N = {at}",
            "≤ 4",
            4 / worst,
            f"{writes:.0f} of them writes; issues per hour: {per_hour(worst, writes)}",
        ),
        Figure(
            "GitHub requests for a run with nothing new",
            f"{idle.counted + idle.not_modified} ({idle.not_modified} answered 304)",
            "≤ 3",
            3 / max(idle.counted + idle.not_modified, 1),
            f"at N = {sizes[-1]:,}; {idle.counted} counted against the rate limit",
        ),
        Figure(
            "GitHub requests per merged issue",
            str(merged.counted),
            "≤ 25",
            25 / merged.counted,
            f"triage, implement, validate and merge of one issue in one run, {merged.writes} "
            f"writes, {merged.not_modified} more answered 304; issues per hour: "
            + per_hour(merged.counted, merged.writes),
        ),
    ]
