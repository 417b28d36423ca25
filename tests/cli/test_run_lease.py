"""Two ``factory run --once`` at the same time on one state: a run-level lease lets one judge
the issues; each issue is triaged (and paid for) once, with one comment."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.model.scripted import ScriptedModel, load_script
from harness.store.db import Store
from harness.store.leases import CYCLE_LEASE
from tests.cli_helpers import spawn as factory
from tests.standins.anthropic_standin import AnthropicStandIn
from tests.triage.conftest import API_KEY, ISSUES, SCRIPT, make_repo


@pytest.fixture
def standin() -> Iterator[AnthropicStandIn]:
    with AnthropicStandIn(responder=ScriptedModel(load_script(SCRIPT))) as server:
        yield server


# rejected, needs info, rejected: judged by triage, nothing for implement to pick up
FILED = [ISSUES[1], ISSUES[2], ISSUES[3]]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_runs_at_once_judge_each_issue_once(tmp_path: Path, standin: AnthropicStandIn) -> None:
    standin.latency_s = 0.3  # each judgement takes long enough for the two runs to overlap
    repo = make_repo(tmp_path)
    env = {**os.environ, "ANTHROPIC_API_KEY": API_KEY, "ANTHROPIC_BASE_URL": standin.url}
    for author, title, body in FILED:
        proc = factory(
            repo, env, "issue", "new", "--title", title, "--body", body, "--author", author
        )
        assert proc.wait(30) == 0

    runs = [factory(repo, env, "run", "--once", "--json") for _ in range(2)]
    outputs = [proc.communicate(timeout=240) for proc in runs]
    for proc, (out, err) in zip(runs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    results = [json.loads(out) for out, _ in outputs]
    judged = sorted(row["issue"] for result in results for row in result["triage"])
    assert judged == [1, 2, 3]  # between them, each issue once

    asked = [_triaged_issue(b) for _, b in standin.received]
    asked = [n for n in asked if n is not None]
    assert asked and sorted(asked) == sorted(set(asked))  # no issue sent to the model twice
    store = Store.open(Path(env["FACTORY_STATE_DIR"]))
    try:
        for number in (1, 2, 3):
            assert len(store.list_runs(limit=None, workflow="triage", issue=number)) == 1
            marked = [c for c in store.comments(number) if "<!-- factory:" in c.body]
            assert len(marked) == 1, marked
        assert store.lease_holder(CYCLE_LEASE) is None  # released by whoever held it
    finally:
        store.close()


def test_a_killed_holder_of_the_run_lease_is_taken_over(tmp_path: Path, capsys) -> None:
    """A lease left by a process that no longer exists does not block the next run."""
    from harness.cli.work import CYCLE_TTL_S, cycle_lease

    store = Store.open(tmp_path / "state")
    try:
        gone = f"{os.uname().nodename}:{2**22 + 12345}:dead"  # above pid_max: never alive
        store.acquire_lease(CYCLE_LEASE, gone, CYCLE_TTL_S)
        with cycle_lease(store) as busy:
            assert busy is None
            assert store.lease_holder(CYCLE_LEASE) not in (None, gone)
            with cycle_lease(store) as again:  # a second taker meets a live holder
                assert again is not None and "another run holds this state" in again
        assert store.lease_holder(CYCLE_LEASE) is None
    finally:
        store.close()


def _triaged_issue(body: object) -> int | None:
    """The issue a triage request is about ("Triage issue N." opens its task), or None."""
    if not isinstance(body, dict) or not any(
        t.get("name") == "submit_triage" for t in body.get("tools", [])
    ):
        return None
    found = re.search(r"Triage issue (\d+)\.", json.dumps(body["messages"][0]))
    return int(found.group(1)) if found else None
