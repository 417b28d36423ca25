"""A person stops a change while it is validated, from another process: ``factory cancel N``
hands it to a person, ``factory reject N`` closes it. The validation ends without a merge —
the sealed validator's model request aborted while the model answers, its sandbox, browser
and checkout released — and the labels say what happened and who decided."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import psutil
import pytest

from harness.git.repo import GitRepo
from harness.git.worktrees import WorktreeManager
from harness.store.db import Store
from harness.validate.landing import QUEUE_FLAG
from tests.checks_passed import analysers_find_nothing
from tests.cli_helpers import run_cli
from tests.cli_helpers import spawn as factory
from tests.validate.conftest import file_issues, issue, journeys_pass, make_app, role_of, serve


def _asked(body: dict) -> bool:
    """The sealed validator's first request for issue 1: held until its client goes away."""
    return role_of(body) == "validator" and len(body["messages"]) == 1


def _journeys_pass() -> None:
    """In the spawned ``factory validate``, for the rest of its life: the hold-out's journeys
    (production's health, the calibration's, the candidate's) stand in as passed, as in this
    process; its sealed validator, whose request is held, is real."""
    journeys_pass(pytest.MonkeyPatch())


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("decision", ["cancel", "reject"])
def test_a_person_stops_a_change_while_it_is_validated(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, decision: str
) -> None:
    repo, _ = make_app(tmp_path)
    journeys_pass(monkeypatch)  # the validator's own browser is real; the hold-out's stands in
    analysers_find_nothing(monkeypatch)  # the security gate's, in the change's implement step
    cli = ("--repo", str(repo))
    for server in serve(tmp_path, monkeypatch):
        file_issues(capsys, repo, [1])
        assert run_cli(capsys, *cli, "triage", "--issue", "1").code == 0
        assert run_cli(capsys, *cli, "implement", "1").code == 0
        assert "factory:needs-review" in issue(capsys, repo, 1)["labels"]
        production = GitRepo(repo).rev_parse("main")
        server.hold = _asked
        live = factory(repo, dict(os.environ), "validate", "1", "--json", before=_journeys_pass)
        deadline = time.monotonic() + 300
        while not any(_asked(body) for _, body in server.received):
            assert live.poll() is None and time.monotonic() < deadline, live.communicate()
            time.sleep(0.2)
        reason = "Not this way" if decision == "reject" else "Not now"
        said = run_cli(capsys, *cli, decision, "1", "--reason", reason, "--by", "alice")
        assert said.code == 0, said.err
        out, err = live.communicate(timeout=120)
        assert [b for b in server.abandoned if _asked(b)], "the request was not aborted"

    # no merge: production as it was, the pull request not merged
    assert GitRepo(repo).rev_parse("main") == production
    shown = issue(capsys, repo, 1)
    store = Store.open(tmp_path / "state")
    (run,) = store.list_runs(limit=None, workflow="validate", issue=1)
    assert run.status == "failed", (run, out, err)
    merged = [s for s in store.steps(run.id) if s.step_id == "merge" and s.status == "succeeded"]
    assert merged == []
    # labels and comments: what happened, who decided
    if decision == "cancel":
        assert run.reason.startswith("cancelled by alice: Not now"), run.reason
        assert "factory:needs-human" in shown["labels"]
        assert not {"factory:needs-review", "factory:accepted"} & set(shown["labels"])
        assert shown["state"] == "open"
    else:
        assert run.reason.startswith("rejected by alice"), run.reason
        assert "factory:rejected" in shown["labels"] and shown["state"] == "closed"
        assert "factory:needs-human" not in shown["labels"]
    bodies = [c["body"] for c in shown["comments"]]
    assert not any(b.startswith(("**Validation", "**Stopped: needs")) for b in bodies), bodies
    assert any("alice" in b for b in bodies)
    # nothing left running: no checkout, no place in the merge queue, no process of the run
    assert WorktreeManager.of(GitRepo(repo), tmp_path / "state").list() == []
    assert json.loads(store.get_flag(QUEUE_FLAG) or "[]") == []
    left = [
        p.info["pid"]
        for p in psutil.process_iter(["pid", "cmdline"])
        if run.id in " ".join(p.info["cmdline"] or [])
    ]
    assert left == []
