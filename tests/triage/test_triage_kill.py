"""``kill -9`` during triage, then a re-run: every issue triaged exactly once, one comment each."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from harness.store.db import Store
from tests.cli_helpers import repo_cli
from tests.cli_helpers import spawn as factory
from tests.triage.conftest import API_KEY, EXPECTED, ISSUES, make_repo


def steps_recorded(state: Path) -> int:
    """How many steps the runs on ``state`` have started (read-only, beside the writer)."""
    db = state / "state.db"
    if not db.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM steps").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is still being made
        return 0


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_kill_9_at_random_points_then_rerun_finishes_exactly_once(
    tmp_path: Path, capsys, standin
) -> None:
    standin.latency_s = 0.15
    repo = make_repo(tmp_path)
    env = {
        **os.environ,
        "ANTHROPIC_API_KEY": API_KEY,
        "ANTHROPIC_BASE_URL": standin.url,
    }

    cli = repo_cli(capsys, repo)

    for author, title, body in ISSUES:
        assert cli("issue", "new", "--title", title, "--body", body, "--author", author).code == 0

    state = Path(env["FACTORY_STATE_DIR"])
    kills = 0
    for more in (1, 3, 2, 4, 1):  # killed once this many more steps were recorded: by count
        target = steps_recorded(state) + more
        proc = factory(repo, env, "triage")
        deadline = time.monotonic() + 120  # a hang guard only
        while proc.poll() is None and steps_recorded(state) < target:
            assert time.monotonic() < deadline, "triage recorded no step"
            time.sleep(0.01)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(60)
    assert kills >= 1  # at least one run really died mid-way (the first, with work to do)

    final = factory(repo, env, "triage", "--json")
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    assert "Traceback" not in err

    for number, label in EXPECTED.items():
        data = cli("issue", "show", str(number), "--json").json()
        factory_labels = [x for x in data["labels"] if x.startswith("factory:")]
        assert factory_labels == [label], (number, data["labels"])
        marked = [c for c in data["comments"] if "<!-- factory:" in c["body"]]
        assert len(marked) == 1, (number, marked)

    runs = cli("runs", "--json", "--limit", "500").json()
    triaged = [r for r in runs if r["workflow"] == "triage"]
    finished = [r for r in triaged if r["status"] == "succeeded"]
    assert sorted(r["issue"] for r in finished) == sorted(EXPECTED)
    assert {r["status"] for r in triaged} == {"succeeded"}  # killed runs were resumed, not redone
    # each factory triage is one inbox run; a killed one was resumed by the next, not redone
    inboxes = Store.open(state).list_runs(limit=None, workflow="inbox")
    assert {r.status for r in inboxes} == {"succeeded"} and len(inboxes) <= 6
    assert standin.violations == []


def test_a_run_killed_after_its_rejection_closed_the_issue_is_finished(
    tmp_path: Path, capsys, anthropic_env
) -> None:
    repo = make_repo(tmp_path)

    cli = repo_cli(capsys, repo)

    author, title, body = ISSUES[1]  # rejected: its apply step closes the issue
    assert cli("issue", "new", "--title", title, "--body", body, "--author", author).code == 0
    assert [r["decision"] for r in cli("triage", "--json").json()] == ["reject"]
    calls = len(anthropic_env.received)
    db = Path(os.environ["FACTORY_STATE_DIR"]) / "state.db"
    with closing(sqlite3.connect(db)) as conn, conn:  # what a kill inside the apply step leaves
        # (the inbox's triage step too: its triage run under way; none after it)
        conn.execute("UPDATE steps SET status = 'running' WHERE step_id IN ('apply', 'triage')")
        conn.execute("DELETE FROM steps WHERE step_id = 'send'")
        conn.execute("UPDATE runs SET status = 'running', finished_at = NULL")

    again = cli("triage", "--json").json()
    assert [(r["issue"], r["status"]) for r in again] == [(1, "succeeded")]
    assert len(anthropic_env.received) == calls  # resumed at its apply step, not judged again
    assert [r["status"] for r in cli("runs", "--json").json()] == ["succeeded"]
    shown = cli("issue", "show", "1", "--json").json()
    assert shown["state"] == "closed"
    assert [x for x in shown["labels"] if x.startswith("factory:")] == ["factory:rejected"]
    assert len([c for c in shown["comments"] if "<!-- factory:" in c["body"]]) == 1
    assert cli("triage", "--json").json() == []  # finished: not taken again


@pytest.mark.parametrize("gone", ["closed", "deleted"])
def test_a_run_killed_before_its_decision_on_an_issue_closed_meanwhile_is_ended(
    tmp_path: Path, capsys, anthropic_env, gone: str
) -> None:
    repo = make_repo(tmp_path)
    cli = repo_cli(capsys, repo)
    author, title, body = ISSUES[0]  # accepted: the judge is asked
    assert cli("issue", "new", "--title", title, "--body", body, "--author", author).code == 0
    assert [r["decision"] for r in cli("triage", "--json").json()] == ["accept"]
    calls = len(anthropic_env.received)
    db = Path(os.environ["FACTORY_STATE_DIR"]) / "state.db"
    with closing(sqlite3.connect(db)) as conn, conn:  # a kill inside the judge step, and then
        conn.execute("DELETE FROM steps WHERE step_id IN ('apply', 'send')")
        conn.execute("UPDATE steps SET status = 'running' WHERE step_id IN ('judge', 'triage')")
        conn.execute("UPDATE runs SET status = 'running', finished_at = NULL")
        conn.execute("DELETE FROM issue_labels")
        conn.execute("DELETE FROM comments")
        if gone == "closed":  # a person closed the issue
            conn.execute("UPDATE issues SET state = 'closed'")
        else:  # an administrator deleted it
            conn.execute("DELETE FROM issues")

    assert cli("triage", "--json").json() == []
    assert len(anthropic_env.received) == calls  # nothing decided, nothing spent
    (run,) = [r for r in cli("runs", "--json").json() if r["workflow"] == "triage"]
    assert (run["status"], run["reason"]) == (
        "failed",
        "issue #1 is no longer open: its triage run was not resumed",
    )
    if gone == "closed":
        shown = cli("issue", "show", "1", "--json").json()
        assert shown["labels"] == [] and shown["comments"] == []  # nothing written on it
    assert cli("triage", "--json").json() == []
    assert [r["workflow"] for r in cli("runs", "--json").json()].count("triage") == 1
