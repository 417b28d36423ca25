"""Implementation's suite run is the clean run a candidate's is, and every one is counted: a
failing result is never reused as a pass (the same tree is tested again), and a run killed
while its suite runs, then resumed, reports two suite runs. Through ``factory implement``
(real sandbox, scripted model over the SDK)."""

from __future__ import annotations

import os
import secrets
import signal
import time
from pathlib import Path

import pytest

from harness.engine.records import RunRecords
from harness.sandbox.bwrap import CommandResult, Sandbox
from harness.store.db import Store
from tests.cli_helpers import repo_cli
from tests.cli_helpers import spawn as factory
from tests.implement.conftest import KEY, accepted_issue, make_app_repo

SUITE = "python3 -m unittest -q"


def test_a_failing_result_is_never_reused_as_a_pass(
    tmp_path: Path, capsys, standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_app_repo(tmp_path)
    number = accepted_issue(capsys, repo, "Add a greeting function")
    real, ran = Sandbox.run, []

    def run(self: Sandbox, command: str, *, timeout_s: float | None = None) -> CommandResult:
        ran.append((self.worktree.name, command))
        if command == SUITE and [c for _, c in ran].count(SUITE) == 1:  # the first: a flake
            return real(self, "echo 'a flake'; exit 1", timeout_s=timeout_s)
        return real(self, command, timeout_s=timeout_s)

    monkeypatch.setattr(Sandbox, "run", run)
    cli = repo_cli(capsys, repo)
    done = cli("implement", str(number), "--json")
    assert done.code == 0, done.err
    store = Store.open(tmp_path / "state")
    (implemented,) = store.list_runs(limit=None, workflow="implement", issue=number)
    first, second = RunRecords(store.steps(implemented.id)).tested()
    # the implementer, sent back, wrote the same files: the same tree, tested again
    assert (first.tree, first.decided_by) == (second.tree, second.decided_by)
    assert (first.exit_code, second.exit_code, second.reused_from) == (1, 0, None)
    assert [c for _, c in ran].count(SUITE) == 2  # both in a clean copy, not the agents' tree
    assert all(name.startswith(f"{implemented.id}-implement") for name, c in ran if c == SUITE)
    assert cli("report", implemented.id, "--json").json()["suite_runs"] == 2


def _suite_process(marker: str, timeout_s: float = 120.0) -> int:
    """The pid of the sandboxed suite whose command line holds ``marker``, once it runs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    return int(entry.name)
            except (OSError, ValueError):
                continue
        time.sleep(0.05)
    raise AssertionError("the suite never started")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_run_killed_while_its_suite_runs_reports_two_suite_runs(
    tmp_path: Path, capsys, standin
) -> None:
    marker = f"suite-{secrets.token_hex(6)}"  # names this test's suite among every process
    suite = f"python3 -c 'import time; time.sleep(2)' {marker} && {SUITE}"
    repo = make_app_repo(tmp_path, commands={"test": suite})
    number = accepted_issue(capsys, repo, "Add a greeting function")
    env = {
        **os.environ,
        "ANTHROPIC_API_KEY": KEY,
        "ANTHROPIC_BASE_URL": standin.url,
        "FACTORY_STATE_DIR": str(tmp_path / "state"),
    }
    killed = factory(repo, env, "implement", str(number))
    _suite_process(marker)
    killed.send_signal(signal.SIGKILL)  # mid-suite: bubblewrap dies with its parent
    assert killed.wait(timeout=60) == -signal.SIGKILL
    resumed = factory(repo, env, "implement", str(number), "--json")
    _, err = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, err
    store = Store.open(tmp_path / "state")
    (run,) = store.list_runs(limit=None, workflow="implement", issue=number)  # resumed, not redone
    report = repo_cli(capsys, repo)("report", run.id, "--json").json()
    assert report["suite_runs"] == 2  # the killed one counts
