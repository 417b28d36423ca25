"""Races and crashes: one claimer wins; kill -9 at step boundaries resumes without duplicates."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.forge.local import LocalForge
from harness.git.repo import GitRepo
from harness.model.scripted import ScriptedModel, load_script
from harness.store.db import Store
from tests.cli_helpers import Result, repo_cli
from tests.cli_helpers import spawn as factory
from tests.implement.conftest import KEY, accepted, accepted_issue, big_script, make_app_repo
from tests.standins.anthropic_standin import AnthropicStandIn
from tests.store_reads import pull_requests
from tests.validate.conftest import role_of


def base_env(tmp_path: Path, standin) -> dict[str, str]:
    return {
        **os.environ,
        "ANTHROPIC_API_KEY": KEY,
        "ANTHROPIC_BASE_URL": standin.url,
        "FACTORY_STATE_DIR": str(tmp_path / "state"),
    }


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_two_implements_at_once_exactly_one_proceeds(tmp_path: Path, capsys, standin) -> None:
    standin.latency_s = 0.3
    repo = make_app_repo(tmp_path)
    number = accepted_issue(capsys, repo, "Slow work")
    env = base_env(tmp_path, standin)
    first = factory(repo, env, "implement", str(number), "--json")
    time.sleep(1.0)  # most often the first claims it; on a loaded machine the second may
    second = factory(repo, env, "implement", str(number), "--json")
    ended = [second.communicate(timeout=120), first.communicate(timeout=120)]
    codes = [second.returncode, first.returncode]
    assert sorted(codes) == [0, 1], (codes, ended)
    _, refused_err = ended[codes.index(1)]
    assert "being worked on" in refused_err, refused_err
    store = Store.open(tmp_path / "state")
    assert len(pull_requests(store, number)) == 1
    assert len(store.list_runs(limit=None, workflow="implement", issue=number)) == 1


# where an implement run is killed, in the order it reaches them
BOUNDARIES = (
    "implement.worktree.done",  # the branch exists
    "tools.run_command",  # in the code step: the implementer wrote two files, runs a command
    "implement.commit.made",  # committed, step not yet recorded
    "implement.commit.done",  # after the commit step
    "implement.pr.created",  # the PR record exists, labels and comment not yet
)


def _tasks(bodies: list[dict]) -> list[str]:
    """The implementer's task in each of its requests."""
    found = [b["messages"][0]["content"][0] for b in bodies if role_of(b) == "implementer"]
    return [str(block["text"]) for block in found]


@dataclass(frozen=True)
class KilledInTurn:
    """One implement run killed at each boundary in turn, then run to its end."""

    state: Path
    repo: Path
    number: int
    codes: dict[str, int]  # how each killed process ended
    open_runs: dict[str, list[str]]  # the implement runs left open after each kill
    calls: list[int]  # the model's requests when each kill came
    code: int  # the last run's exit code
    out: str
    err: str
    received: list[dict]  # every request the model was sent


def _spawned(repo: Path, env: dict[str, str]) -> Callable[..., Result]:
    """``factory --repo REPO ARGS`` in a process of its own, as ``cli(*ARGS)``."""

    def cli(*args: str) -> Result:
        process = factory(repo, env, *args)
        out, err = process.communicate(timeout=120)
        return Result(process.returncode or 0, out, err)

    return cli


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KilledInTurn]:
    """``kill -9`` at each boundary in turn, each run resuming the one killed before it and
    killed at the next boundary (so each boundary is resumed from), then a run that
    finishes."""
    tmp_path = tmp_path_factory.mktemp("killed")
    responder = ScriptedModel(load_script(big_script(tmp_path)))
    with AnthropicStandIn(responder=responder) as standin:
        repo = make_app_repo(tmp_path)
        env = base_env(tmp_path, standin)
        number = accepted(_spawned(repo, env), "Add a greeting function")
        codes, open_runs, calls = {}, {}, []
        for point in BOUNDARIES:
            crashed = factory(repo, {**env, "FACTORY_FAULT_AT": point}, "implement", str(number))
            crashed.communicate(timeout=120)
            codes[point] = crashed.returncode
            store = Store.open(tmp_path / "state")
            open_runs[point] = [r.id for r in store.open_runs("implement")]
            store.close()
            calls.append(len(standin.received))
        again = factory(repo, env, "implement", str(number), "--json")
        out, err = again.communicate(timeout=120)
        received = [b for _, b in standin.received]
    yield KilledInTurn(
        tmp_path / "state",
        repo,
        number,
        codes,
        open_runs,
        calls,
        again.returncode,
        out,
        err,
        received,
    )


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("point", BOUNDARIES)
def test_kill_9_at_a_boundary_is_resumed_by_the_next_run(killed: KilledInTurn, point: str) -> None:
    """Each process was really killed at its boundary, and left the one implement run open
    that the first killed run opened: each run after resumed it."""
    assert killed.codes[point] == -9, killed.codes
    first = killed.open_runs[BOUNDARIES[0]]
    assert len(first) == 1 and killed.open_runs[point] == first, killed.open_runs


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_then_a_rerun_completes_once(killed: KilledInTurn) -> None:
    """One run, one pull request, one comment."""
    assert killed.code == 0, killed.err
    result = json.loads(killed.out)
    store = Store.open(killed.state)
    number = killed.number
    (pr,) = pull_requests(store, number)
    assert pr.branch == result["branch"]
    assert GitRepo(killed.repo).changed_paths("main", pr.branch) == ["greet.py", "test_greet.py"]
    assert (
        len(store.list_runs(limit=None, workflow="implement", issue=number)) == 1
    )  # resumed, not redone
    comments = [c.body for c in store.comments(number) if "factory:implement:pr" in c.body]
    assert len(comments) == 1
    labels = store.issue(number).labels
    assert "factory:needs-review" in labels and "factory:in-progress" not in labels
    assert store.spend(issue=number) > 0  # spend of the killed processes is on record


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_once_committed_no_finished_agent_is_asked_again(killed: KilledInTurn) -> None:
    calls = killed.calls
    assert calls[1] < calls[2] == calls[3] == calls[4] == len(killed.received), calls


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_kill_in_the_code_step_resumes_told_what_the_worktree_holds(
    killed: KilledInTurn,
) -> None:
    """Killed as the implementer ran a command, its resumed request names the files it
    wrote and shows their diff."""
    cut = killed.calls[1]
    first, resumed = _tasks(killed.received[:cut]), _tasks(killed.received[cut:])
    assert first and all("cut short" not in task for task in first)
    assert "cut short" in resumed[0], resumed[0]
    assert "\nFiles changed: greet.py, test_greet.py\n" in resumed[0], resumed[0]
    assert "+def greet(name):" in resumed[0]  # with their diff


@pytest.mark.timeout(300)
def test_a_killed_run_whose_issue_a_person_closed_is_ended_not_resumed(
    tmp_path: Path, capsys, standin
) -> None:
    repo = make_app_repo(tmp_path)
    number = accepted_issue(capsys, repo, "Add a greeting function")
    env = base_env(tmp_path, standin)
    at = {**env, "FACTORY_FAULT_AT": "implement.plan.done"}  # a worktree made, a plan paid for
    crashed = factory(repo, at, "implement", str(number))
    crashed.communicate(timeout=120)
    assert crashed.returncode == -9
    store = Store.open(tmp_path / "state")
    (killed,) = store.open_runs("implement")
    made = next(s.outputs for s in store.steps(killed.id) if s.step_id == "worktree")
    checkout = Path(str(made["path"]))
    assert checkout.is_dir()
    LocalForge(store, GitRepo(repo)).set_issue_state(
        number, "closed"
    )  # a person no longer wants it
    calls, labels = len(standin.received), store.issue(number).labels
    comments = len(store.comments(number))

    cli = repo_cli(capsys, repo)
    ran = cli("run", "--json")
    assert ran.code == 0, ran.err
    assert ran.json()["implement"] == [] and ran.json()["ended"] == [number]  # not resumed
    (row,) = [r for r in cli("runs", "--json").json() if r["workflow"] == "implement"]
    assert (row["status"], row["outcome"]) == ("failed", "failed")
    assert row["reason"] == f"issue #{number} is no longer open: its implement run was not resumed"
    assert len(standin.received) == calls  # nothing spent on it
    assert store.issue(number).labels == labels and len(store.comments(number)) == comments
    assert not checkout.exists()  # the checkout is removed; the branch is kept (factory prune)
    assert GitRepo(repo).rev_parse(f"refs/heads/{made['branch']}") is not None
    assert store.open_runs("implement") == [] and store.lease_holder(number) is None

    def about_issues() -> int:  # a cycle's own runs (its stages') are about none
        return sum(r["issue"] is not None for r in cli("runs", "--json").json())

    runs = about_issues()
    again = cli("run", "--json")
    assert again.code == 0 and "ended" not in again.json()  # ended once
    assert about_issues() == runs
