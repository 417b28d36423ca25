"""``factory run --once`` with ``forge: github`` against the stand-in GitHub and its bare
remote: triage, a pushed branch and its PR, a merge through the API with the head SHA, the
issue closed; a kill -9 right after the PR was created; the token nowhere but its header.
Production's health and the checks a landing waits for beside CI stand in passed
(``production_green`` below, ``tests/checks_passed.py``): the health and validate jobs of the GitHub Actions scenario
(``tests/forge/actions_scenario.py``) run them on GitHub for real.

Two scenarios, each played once for the tests that read it: a whole cycle (``cycle``) and
an implement killed after its PR was created, resumed, then validated while CI never
finishes (``killed_then_pending``)."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.artifacts.production import Health
from harness.engine.actions import action
from harness.engine.context import StepContext
from harness.forge import github_issues
from harness.git.repo import GitRepo
from harness.validate.actions import production_tip
from harness.validate.calibration import calibration_key
from tests.checks_passed import CHECKS_PASSED, analysers_find_nothing
from tests.cli_helpers import Result, run_cli, spawn, use_actions
from tests.conftest import _every_merge_landed_a_tested_tree
from tests.factory_repo import git
from tests.forge.conftest import notes_on_github
from tests.forge.github_helpers import TOKEN, github_env
from tests.forge.shared_scenario import Output, isolated_env
from tests.standins.github_standin import GitHubStandIn

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


def _posts(hub, suffix: str) -> list:
    return [r for r in hub.requests if r.method == "POST" and r.path.endswith(suffix)]


def _ci_reads(hub, sha: str) -> int:
    return len([r for r in hub.requests if r.path.endswith(f"/commits/{sha}/check-runs")])


class FinishesAfter(dict[str, list[dict[str, Any]]]):
    """The stand-in's check runs: those of every commit are in progress for its first
    ``reads`` reads, then successful; counted by reads, not by time, so a loaded machine sees
    the same."""

    def __init__(self, reads: int) -> None:
        super().__init__()
        self.reads, self.seen = reads, Counter[str]()

    def get(self, sha: str, default: Any = None) -> Any:
        self.seen[sha] += 1
        if self.seen[sha] <= self.reads:
            return [{"status": "in_progress"}]
        return [{"status": "completed", "conclusion": "success"}]


@action("validate.health")
def production_green(ctx: StepContext) -> Health:
    """Production's health standing in green, on the tip fetched from GitHub and kept green
    for its tree as the real check does (``harness/validate/actions.py``: a cycle on a tree
    known green checks nothing again); the health jobs of the GitHub Actions scenario check
    production on GitHub for real."""
    services = ctx.services
    _, sha = production_tip(ctx)
    green = Health(production_sha=sha, green=True, tests_exit_code=0)
    key = calibration_key(services.repo, sha, services.settings.holdout_dir, "health")
    services.store.set_flag(key, green.model_dump_json())
    return green


@dataclass(frozen=True)
class Cycle:
    repo: Path
    hub: GitHubStandIn
    first: Result  # run --once --json
    again: Result  # the same, right after
    writes_before_again: int
    idle: list  # the requests of a third run, with nothing left to do


@pytest.fixture(scope="module")
def cycle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cycle]:
    """``factory run --once`` on the stand-in GitHub, CI on every commit still running for
    its first two reads, then ``run --once`` again; the merge queue's invariant checked on
    the state it left. Production's health and the checks the landing waits for beside CI
    stand in passed (``production_green``, ``tests/checks_passed.py``), and so do the security
    gate's analysers (``analysers_find_nothing``): what is judged here
    is what the factory does on GitHub (its labels, comments, push, pull request, merge, the
    wait for CI, the token)."""
    root = tmp_path_factory.mktemp("cycle")
    state = root / "state"
    with (
        notes_on_github(root) as (repo, hub),
        isolated_env(state, **github_env(hub)) as mp,
    ):
        use_actions(mp, production_green, *CHECKS_PASSED)
        analysers_find_nothing(mp)  # the security gate's: the change adds no finding
        hub.check_runs = FinishesAfter(reads=2)
        with Output() as output:
            first = run_cli(output, "--repo", str(repo), "run", "--once", "--json")
            writes = len(hub.writes())
            again = run_cli(output, "--repo", str(repo), "run", "--once", "--json")
            before_idle = len(hub.requests)
            # an hour later, and the clock stands still while it runs: what the idle cycle
            # asks is the code's count, not the machine's speed (the snapshot's 30 s age)
            later = time.monotonic() + 3600
            with pytest.MonkeyPatch.context() as still:
                still.setattr(github_issues, "time", SimpleNamespace(monotonic=lambda: later))
                assert run_cli(output, "--repo", str(repo), "run", "--once", "--json").code == 0
    _every_merge_landed_a_tested_tree(state / "state.db")
    yield Cycle(repo, hub, first, again, writes, hub.requests[before_idle:])


def test_run_once_on_github(cycle: Cycle) -> None:
    repo, hub, res, again = cycle.repo, cycle.hub, cycle.first, cycle.again
    assert res.code == 0, res.err
    result = res.json()
    decided = {row["issue"]: row.get("decision") for row in result["triage"]}
    assert decided == {1: "accept", 2: "reject"}, result["triage"]

    # triage: labels, and one marked comment per issue leading with the decision
    assert "factory:rejected" in hub.issues[2].labels
    for number in (1, 2):
        marked = [c for c in hub.comments_on(number) if "<!-- factory:triage" in c["body"]]
        assert len(marked) == 1, hub.comments_on(number)
    # the factory's own issue is not input
    assert hub.issues[4].labels == [] and hub.comments_on(4) == []

    # implement: a branch pushed over HTTP and a PR from it
    (pr_post,) = _posts(hub, "/pulls")
    head = json.loads(pr_post.body)["head"]
    assert head.startswith("factory/issue-1-")
    assert any(r.path.endswith("/git-receive-pack") for r in hub.requests)
    (pull,) = hub.pulls.values()

    # validate: merged through the API with the PR's head SHA, the issue closed
    merges = [r for r in hub.requests if r.method == "PUT" and r.path.endswith("/merge")]
    assert len(merges) == 1
    pushed_head = GitRepo(hub.bare).rev_parse(f"refs/heads/{head}")
    assert json.loads(merges[0].body)["sha"] == pushed_head
    assert pull.merged and hub.issues[1].state == "closed"
    assert "factory:merged" in hub.issues[1].labels
    closes = [
        r
        for r in hub.requests
        if r.method == "PATCH" and r.path.endswith("/issues/1") and b"closed" in r.body
    ]
    assert len(closes) == 1
    # production moved on GitHub and locally alike, with the change in it
    assert GitRepo(hub.bare).rev_parse("refs/heads/main") == pull.merge_sha
    assert GitRepo(repo).rev_parse("refs/heads/main") == pull.merge_sha
    assert b"notes" in (GitRepo(repo).read_blob("main", "app.py") or b"")

    # a second run writes nothing new
    assert again.code == 0, again.err
    before = cycle.writes_before_again
    assert len(hub.writes()) == before, [r.path for r in hub.writes()[before:]]

    # the token: only ever in the auth header, never printed, and nowhere on disk
    for printed in (res.out, res.err, again.out, again.err):
        assert TOKEN not in printed
    for request in hub.requests:
        assert TOKEN.encode() not in request.body
        assert TOKEN not in str({k: v for k, v in request.headers.items() if k != "authorization"})
    assert TOKEN not in git(repo, "config", "--list")
    for path in [*(repo / ".factory").rglob("*"), *(repo / ".git").rglob("*")]:
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_an_idle_cycle_fetches_production_once(cycle: Cycle) -> None:
    """A fetch is one request for the remote's refs with the token (git asks without it
    first, and is refused)."""
    asked = [
        r for r in cycle.idle if r.path.endswith("/info/refs") and "authorization" in r.headers
    ]
    assert [r.query.get("service") for r in asked] == [["git-upload-pack"]], cycle.idle
    assert not any(r.path.endswith("/git-receive-pack") for r in cycle.idle)  # nothing pushed


def test_an_idle_cycle_asks_github_for_its_issues_once(cycle: Cycle) -> None:
    """One conditional ``GET /issues``, answered 304, and no other REST request: the cycle's
    last read (the issues its author limit defers) is made before it settles, not after
    (a second request, each cycle)."""
    rest = [r for r in cycle.idle if "/api/v3/" in r.path and "/info/refs" not in r.path]
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in rest] == [("GET", "issues")], rest
    assert rest[0].headers.get("if-none-match"), rest[0].headers


def test_validation_waits_for_ci_that_is_still_running(cycle: Cycle) -> None:
    hub = cycle.hub
    (merge,) = [r for r in hub.requests if r.method == "PUT" and r.path.endswith("/merge")]
    head = json.loads(merge.body)["sha"]  # the PR's head, whose CI ran for two reads
    (pull,) = hub.pulls.values()
    assert pull.merged  # it waited for the third read, which said success
    assert _ci_reads(hub, head) >= 3


@dataclass(frozen=True)
class Killed:
    hub: GitHubStandIn
    killed_code: int | None  # implement, killed right after GitHub created the PR
    pulls_after_kill: int
    rerun: tuple[int | None, str]  # implement again: its exit code and stderr
    pulls_after_rerun: int
    pr_posts_after_rerun: int
    implement_comments: list[str]  # the factory's implement comments on issue 1 by then
    head: str
    validated: Result  # validate 1 --json, CI on the head queued for good


def analysers_quiet_in_process() -> None:
    """In a spawned ``factory`` (``spawn(..., before=...)``), for the rest of its life: the
    security gate's analysers stand in as having found nothing."""
    analysers_find_nothing(pytest.MonkeyPatch())


@pytest.fixture(scope="module")
def killed_then_pending(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Killed]:
    """Issue 1 triaged; ``factory implement 1`` killed (-9) right after the PR was created,
    then run again; then ``factory validate 1`` with CI on the PR's head queued for good, on
    records saying the checks it waits for CI beside passed (``tests/checks_passed.py``:
    what is judged here is the wait, as in ``cycle``); the security gate's analysers stand in
    as having found nothing in both implementations."""
    root = tmp_path_factory.mktemp("killed")
    state = root / "state"
    with (
        notes_on_github(root) as (repo, hub),
        isolated_env(state, **github_env(hub)),
        Output() as output,
    ):
        res = run_cli(output, "--repo", str(repo), "triage")
        assert res.code == 0, res.err
        env = {**os.environ, "FACTORY_FAULT_AT": "github.pr.created"}
        crashed = spawn(repo, env, "implement", "1", before=analysers_quiet_in_process)
        crashed.communicate(timeout=300)
        pulls_after_kill = len(hub.pulls)
        env.pop("FACTORY_FAULT_AT")
        rerun = spawn(repo, env, "implement", "1", before=analysers_quiet_in_process)
        _, err = rerun.communicate(timeout=300)
        pulls_after_rerun, pr_posts = len(hub.pulls), len(_posts(hub, "/pulls"))
        said = [c["body"] for c in hub.comments_on(1) if "<!-- factory:implement" in c["body"]]
        (pull,) = hub.pulls.values()
        head = GitRepo(hub.bare).rev_parse(f"refs/heads/{pull.head}")
        assert head
        hub.check_runs[head] = [{"status": "queued"}]
        with pytest.MonkeyPatch.context() as mp:
            use_actions(mp, *CHECKS_PASSED)
            validated = run_cli(output, "--repo", str(repo), "validate", "1", "--json")
    _every_merge_landed_a_tested_tree(state / "state.db")
    yield Killed(
        hub,
        crashed.returncode,
        pulls_after_kill,
        (rerun.returncode, err),
        pulls_after_rerun,
        pr_posts,
        said,
        head,
        validated,
    )


def test_kill_9_after_the_pr_was_created_does_not_open_another(
    killed_then_pending: Killed,
) -> None:
    seen = killed_then_pending
    assert seen.killed_code == -9
    assert seen.pulls_after_kill == 1
    code, err = seen.rerun
    assert code == 0, err
    assert seen.pulls_after_rerun == 1 and seen.pr_posts_after_rerun == 1
    pr_comments = seen.implement_comments
    assert len(pr_comments) == len({body.splitlines()[0] for body in pr_comments})


def test_github_without_a_token_is_one_clear_line(github_repo, capsys, monkeypatch) -> None:
    repo, _ = github_repo
    monkeypatch.delenv("GITHUB_TOKEN")
    res = run_cli(capsys, "--repo", str(repo), "triage")
    assert res.code == 2
    assert res.err.strip().splitlines() == [
        "factory: error: environment: GITHUB_TOKEN: is not set; forge: github needs a token"
    ]


def test_stop_and_resume_on_github_flip_the_repository_variable(github_repo, capsys) -> None:
    repo, hub = github_repo

    def variable_writes() -> list:
        return [r for r in hub.writes() if "/actions/variables" in r.path]

    stopped = run_cli(capsys, "--repo", str(repo), "stop", "--github", "--reason", "audit")
    assert stopped.code == 0, stopped.err
    assert hub.variables == {"FACTORY_ENABLED": "false"}
    assert "acme/app: FACTORY_ENABLED=false" in stopped.out
    (created,) = variable_writes()
    assert created.method == "POST"
    assert json.loads(created.body) == {"name": "FACTORY_ENABLED", "value": "false"}
    # the local switch is engaged too: nothing runs, and GitHub is not written to
    before = len(hub.writes())
    refused = run_cli(capsys, "--repo", str(repo), "triage")
    assert refused.code == 1 and "stopped (audit)" in refused.err
    assert len(hub.writes()) == before

    resumed = run_cli(capsys, "--repo", str(repo), "resume", "--github")
    assert resumed.code == 0, resumed.err
    assert hub.variables == {"FACTORY_ENABLED": "true"}
    assert [r.method for r in variable_writes()] == ["POST", "PATCH"]
    # resuming again sets nothing that is already set
    run_cli(capsys, "--repo", str(repo), "resume", "--github")
    assert len(variable_writes()) == 2


def test_a_job_started_with_the_switch_off_does_nothing(
    github_repo, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a workflow job sees when FACTORY_ENABLED is false (its env mirrors the variable)."""
    repo, hub = github_repo
    monkeypatch.setenv("FACTORY_ENABLED", "false")
    res = run_cli(capsys, "--repo", str(repo), "run", "--once")
    assert res.code == 1
    assert "FACTORY_ENABLED is false" in res.err
    assert hub.writes() == [] and hub.comments == {}


def test_ci_that_never_finishes_is_judged_pending_after_the_wait(
    killed_then_pending: Killed,
) -> None:
    hub, head, res = (
        killed_then_pending.hub,
        killed_then_pending.head,
        killed_then_pending.validated,
    )
    (pull,) = hub.pulls.values()
    assert not pull.merged
    assert "factory:needs-review" in hub.issues[1].labels
    reads = _ci_reads(hub, head)
    assert 2 <= reads <= 16  # it waited (fewer reads on a loaded machine), no hot loop
    verdicts = [c["body"] for c in hub.comments_on(1) if "<!-- factory:validate:" in c["body"]]
    assert len(verdicts) == 1 and "CI pending" in verdicts[0], verdicts
    assert res.code == 1, res.err
