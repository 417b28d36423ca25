"""``factory run`` is the ``cycle`` workflow (``workflows/cycle.yaml``): a cycle killed in any
stage is resumed through its own record, the stage's run of an issue through the step that
ran it: read back when it finished, resumed when it did not, never done twice."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.cli_helpers import spawn as factory
from tests.implement.conftest import KEY, make_app_repo
from tests.store_reads import pull_requests
from tests.validate.conftest import role_of


def _env(tmp_path: Path, standin: Any) -> dict[str, str]:
    return {
        **os.environ,
        "ANTHROPIC_API_KEY": KEY,
        "ANTHROPIC_BASE_URL": standin.url,
        "FACTORY_STATE_DIR": str(tmp_path / "state"),
    }


def _killed(repo: Path, env: dict[str, str], point: str) -> None:
    crashed = factory(repo, {**env, "FACTORY_FAULT_AT": point}, "run", "--once")
    _, err = crashed.communicate(timeout=240)
    assert crashed.returncode == -signal.SIGKILL, err


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_cycle_killed_in_triage_then_in_implement_is_resumed_through_its_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], standin: Any
) -> None:
    """``kill -9`` once after the triage of a new issue judged it, once after its
    implementation committed: each next ``factory run`` resumes the one cycle run at the
    stage it died in, and that stage's run of the issue through the step that ran it."""
    repo = make_app_repo(tmp_path)
    env, state = _env(tmp_path, standin), tmp_path / "state"
    new = ("issue", "new", "--title", "Add a greeting function", "--body", "Please do this.")
    filed = run_cli(capsys, "--repo", str(repo), *new, "--author", "owner", "--json")
    number = int(filed.json()["number"])

    _killed(repo, env, "triage.judge.done")
    store = Store.open(state)
    (cycle,) = store.list_runs(limit=None, workflow="cycle")
    (inbox,) = store.list_runs(limit=None, workflow="inbox")
    (triage,) = store.list_runs(limit=None, workflow="triage", issue=number)
    assert cycle.status == inbox.status == triage.status == "running"
    assert (inbox.parent, inbox.parent_step) == (cycle.id, "triage")
    assert (triage.parent, triage.parent_step) == (inbox.id, "triage")
    judged = len(standin.received)

    _killed(repo, env, "implement.commit.done")
    (again,) = store.list_runs(limit=None, workflow="cycle")  # the same cycle, resumed
    (triaged,) = store.list_runs(limit=None, workflow="triage", issue=number)  # resumed, not redone
    assert again.id == cycle.id and (triaged.id, triaged.status) == (triage.id, "succeeded")
    assert store.list_runs(limit=None, workflow="inbox")[0].status == "succeeded"
    (implement,) = store.list_runs(limit=None, workflow="implement", issue=number)
    assert implement.status == "running"
    assert (implement.parent, implement.parent_step) == (cycle.id, "implement")
    assert "triage" not in [role_of(b) for _, b in standin.received[judged:]]  # not judged again
    asked = len(standin.received)

    last = factory(repo, env, "run", "--once", "--json")
    out, err = last.communicate(timeout=240)
    assert last.returncode in (0, 1), err
    rows = json.loads(out)
    (row,) = rows["implement"]
    assert (row["run_id"], row["status"], row["pr"]) == (implement.id, "succeeded", 1)
    assert [r["issue"] for r in rows["triage"]] == [number]  # the row of the resumed run
    (done,) = store.list_runs(limit=None, workflow="cycle")
    assert done.id == cycle.id and done.status == "succeeded"
    (finished,) = store.list_runs(limit=None, workflow="implement", issue=number)
    assert finished.id == implement.id and finished.status == "succeeded"
    roles = {role_of(b) for _, b in standin.received[asked:]}
    assert not roles & {"planner", "implementer", "reviewer"}  # its agents were not asked again
    assert len(pull_requests(store, number)) == 1
