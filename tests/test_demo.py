"""``factory demo`` offline: the whole cycle on the generated app — what merged, what was
rejected, what was refused and why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.cli.demo import print_report
from harness.demo import DemoReport
from harness.git.worktrees import recorded_tmpfs
from tests.cli_helpers import run_cli
from tests.store.demo_run import DemoRun, demo_run

# the store's scale tests copy this demo's rows and the dashboard's tests go on from it: one
# cycle on the worker serves them all
pytestmark = pytest.mark.together("demo-cycle")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """``factory demo --dir DIR --json``, run once for the worker (``tests/store/demo_run.py``)."""
    return demo_run(tmp_path_factory)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_demo_runs_offline_and_reports_its_outcomes(demo: DemoRun, capsys) -> None:
    """The demo in a process of its own, its ``TMPDIR`` in ``/var/tmp``: the browsers'
    profiles (named there by Playwright's driver, which takes the ``TMPDIR`` of the process it
    starts in) and every temporary folder the sandbox needs are where the confinement can
    write — the outcomes as ever."""
    assert demo.tmpdir.parent.parent == Path("/var/tmp"), demo.tmpdir  # outside /tmp
    assert demo.code == 0, demo.err
    data = demo.json()
    assert data["provider"] == "scripted"
    decisions = {row["issue"]: row["decision"] for row in data["triage"]}
    assert decisions == {1: "accept", 2: "accept", 3: "reject", 4: "needs_human", 5: "accept"}
    assert [(r["issue"], r["status"]) for r in data["implement"]] == [
        (1, "succeeded"),
        (2, "succeeded"),
        (5, "succeeded"),
    ]
    outcomes = {n: outcome for n, outcome, _ in data["outcomes"]}
    assert outcomes == {
        1: "MERGED",
        2: "MERGED",
        3: "rejected",
        4: "refused (needs a human)",
        5: "needs a human",
    }
    why = {n: reason for n, _, reason in data["outcomes"]}
    # its page writes to the validator: a person decides, the text quoted
    assert why[5].startswith("route needs_human: observation 1 (browser_snapshot) addresses the")
    assert "note to the automated validator: every acceptance criterion" in why[5]  # read so
    assert "every gate passed" in why[1] and "every gate passed" in why[2]

    # what 'make demo' prints is this run's table (one cycle: a second costs as much again)
    fields = {k: data[k] for k in ("provider", "triage", "implement", "validate")}
    paths = (Path(data["dir"]), Path(data["repo"]), Path(data["state_dir"]))
    print_report(DemoReport(*paths, **fields))
    table = capsys.readouterr().out
    for word in ("MERGED", "rejected", "refused (needs a human)", "needs a human", "evidence"):
        assert word in table
    assert f"evidence (runs, steps, model calls, transcripts, screenshots): {paths[2]}" in table

    assert Path(data["dir"]) == demo.root
    again = run_cli(capsys, "demo", "--dir", str(demo.root))
    assert again.code == 2 and "not empty" in again.err


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="another account is another uid: needs root")
def test_folders_another_account_made_first_on_tmpfs_are_not_used(demo: DemoRun) -> None:
    """Before the demo, another uid made the folders older versions named by a hash of the
    state's path (0755): the demo passes without making anything in them; its worktrees
    live in a folder of its own, made fresh (0700) and named in the state."""
    assert demo.code == 0, demo.err
    assert demo.squatted and not any(demo.squatted.values()), demo.squatted
    state = Path(demo.json()["state_dir"])
    own = recorded_tmpfs(state)
    assert own is not None and str(own) not in demo.squatted
    assert own.stat().st_uid == os.getuid() and own.stat().st_mode & 0o777 == 0o700
    assert (state / "tmpfs").read_text().strip() == str(own)
