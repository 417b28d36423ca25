"""``factory cancel N``: a person stops the factory's work on an issue whose implement run is
alive in another process, in the middle of a sandboxed command. Nothing of the run is left
— no process, no worktree, no label of it — the issue waits for a person with one comment,
and ``factory retry N`` takes it back: the next run implements it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.git.repo import GitRepo
from harness.git.worktrees import WorktreeManager
from harness.model.scripted import Rule
from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.cli_helpers import spawn as factory
from tests.implement.conftest import accepted_issue, make_app_repo
from tests.implement.test_implement_faults import base_env

TITLE = "Add a slow greeting"
SLEEP = "sleep 1207"  # the command the implementer is in when the issue is cancelled


def _implementer(*first: dict[str, object]) -> Rule:
    done = [
        {"tool": "write_file", "input": {"path": "slow.py", "content": "X = 1\n"}},
        {"tool": "finish", "input": {"summary": "Slow but done."}},
    ]
    return Rule.model_validate(
        {
            "output": "finish",
            "match": "slow greeting",
            "turns": [*([list(first)] if first else []), done],
        }
    )


def _sleeping() -> list[psutil.Process]:
    return [
        p for p in psutil.process_iter(["cmdline"]) if SLEEP in " ".join(p.info["cmdline"] or [])
    ]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_cancel_ends_a_live_run_in_another_process_and_retry_takes_it_back(
    tmp_path: Path, capsys, standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeping = _implementer({"tool": "run_command", "input": {"command": SLEEP}})
    standin.responder.rules.insert(0, sleeping)
    # the command's own time limit far past the cancel's wait: it stops only if cancelled
    repo = make_app_repo(tmp_path, commands={"command_timeout_s": 3600})
    number = accepted_issue(capsys, repo, TITLE)
    env = base_env(tmp_path, standin)
    monkeypatch.setenv("FACTORY_STATE_DIR", env["FACTORY_STATE_DIR"])
    live = factory(repo, env, "implement", str(number), "--json")
    deadline = time.monotonic() + 120
    while not _sleeping():  # the implementer is inside its sandboxed command
        assert live.poll() is None and time.monotonic() < deadline, live.communicate()
        time.sleep(0.2)
    store = Store.open(tmp_path / "state")
    manager = WorktreeManager.of(GitRepo(repo), tmp_path / "state")
    assert manager.list() and "factory:in-progress" in store.issue(number).labels

    said = run_cli(capsys, "--repo", str(repo), "cancel", str(number), "--reason", "Not now")
    assert said.code == 0, said.err
    assert "cancelled by" in said.out and "its runs ended" in said.out, said.out
    assert live.wait(60) == 1  # the live run stopped at once, not after its command
    assert _sleeping() == []  # no process of the run is left
    assert manager.list() == []  # nor its worktree
    labels = store.issue(number).labels
    assert "factory:needs-human" in labels
    assert not {"factory:in-progress", "factory:accepted"} & set(labels), labels
    (run,) = store.list_runs(limit=None, workflow="implement", issue=number)
    assert run.status == "failed" and run.reason.startswith("cancelled by"), run
    (row,) = run_cli(capsys, "--repo", str(repo), "runs", "--json").json()[:1]
    assert row["outcome"] == "cancelled", row
    stopped = [c.body for c in store.comments(number) if "**Stopped**" in c.body]
    assert len(stopped) == 1 and "Not now" in stopped[0], stopped
    (event,) = store.events(kind="human.cancel", issue=number)
    assert event.data["reason"] == "Not now"
    again = run_cli(capsys, "--repo", str(repo), "cancel", str(number))  # idempotent
    assert (
        again.code == 0 and len([c for c in store.comments(number) if "**Stopped**" in c.body]) == 1
    )

    # retry takes it back: accepted again, and the next implement opens its pull request
    standin.responder.rules[0] = _implementer()
    retried = run_cli(capsys, "--repo", str(repo), "retry", str(number))
    assert retried.code == 0 and "queued for implementation" in retried.out, retried.err
    done = run_cli(capsys, "--repo", str(repo), "implement", str(number), "--json")
    assert done.code == 0, done.err
    assert done.json()["pr"] is not None and "factory:needs-review" in store.issue(number).labels
    refused = run_cli(capsys, "--repo", str(repo), "cancel", str(number))
    assert refused.code == 2 and "nothing to cancel" in refused.err, refused.err


GREETINGS = ("Add a greeting for Ada", "Add a greeting for Bob", "Add a greeting for Cy")


def _asked_to_plan(body: dict[str, Any], title: str) -> bool:
    """The planner's first request for the issue titled ``title``."""
    names = {tool["name"] for tool in body.get("tools", [])}
    first = json.dumps(body["messages"][0])
    return "submit_plan" in names and len(body["messages"]) == 1 and title in first


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_cancel_stops_its_issue_at_once_and_the_cycle_goes_on(
    tmp_path: Path, capsys, standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cycle implements three accepted issues one at a time, in a process of its own; the
    second's planner waits on the model's answer when a person cancels it from another
    process. Its request is aborted (the stand-in sees the connection closed) and its run
    ends, its checkout removed by the cycle itself; the third is implemented and both others
    validated as if nothing had happened (the git guard untripped); the cycle exits 0, and
    the issue's page gives the cancel's reason."""
    from harness.reports.issues import issue_page
    from harness.services import open_services

    repo = make_app_repo(tmp_path)
    first, cancelled, third = (accepted_issue(capsys, repo, title) for title in GREETINGS)
    standin.hold = lambda body: _asked_to_plan(body, GREETINGS[1])
    env = base_env(tmp_path, standin)
    monkeypatch.setenv("FACTORY_STATE_DIR", env["FACTORY_STATE_DIR"])
    cycle = factory(repo, env, "run", "--once", "--json", "--max-parallel", "1")
    deadline = time.monotonic() + 300
    while not any(_asked_to_plan(body, GREETINGS[1]) for _, body in standin.received):
        assert cycle.poll() is None and time.monotonic() < deadline, cycle.communicate()
        time.sleep(0.2)
    said = run_cli(capsys, "--repo", str(repo), "cancel", str(cancelled), "--reason", "Not now")
    assert said.code == 0, said.err
    assert [b for b in standin.abandoned if _asked_to_plan(b, GREETINGS[1])]  # aborted
    out, err = cycle.communicate(timeout=300)
    assert cycle.returncode == 0, (out, err)  # a person's cancel is not a failed cycle

    rows = json.loads(out)
    by_issue = {row["issue"]: row for row in rows["implement"]}
    assert by_issue[cancelled]["status"] == "failed"
    assert by_issue[cancelled]["reason"].startswith("cancelled by"), by_issue[cancelled]
    store = Store.open(tmp_path / "state")
    (run,) = store.list_runs(limit=None, workflow="implement", issue=cancelled)
    assert run.status == "failed" and run.reason.startswith("cancelled by")
    labels = store.issue(cancelled).labels
    assert "factory:needs-human" in labels and "factory:accepted" not in labels
    # the other two: implemented, then validated, each as the other is
    validated = {row["issue"]: row for row in rows["validate"]}
    for number in (first, third):
        assert by_issue[number]["status"] == "succeeded" and by_issue[number]["pr"], by_issue
        assert validated[number]["reason"] == validated[first]["reason"], validated
        assert "changed during the run" not in str(validated[number]["reason"])
    assert cancelled not in validated
    assert WorktreeManager.of(GitRepo(repo), tmp_path / "state").list() == []
    page = issue_page(open_services(repo, tmp_path / "state", None), cancelled)
    assert page.why is not None and page.why.startswith("cancelled by") and "Not now" in page.why
