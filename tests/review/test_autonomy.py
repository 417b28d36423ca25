"""The Autonomy Index reads the audit trail: an issue finished without a person counts, one
a person labelled or rejected does not."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness.review.autonomy import autonomy_index_for, autonomy_series
from harness.store.db import Store
from tests.cli_helpers import run_cli


def _file(capsys, repo: Path, title: str) -> None:
    args = ["--repo", str(repo), "issue", "new", "--title", title, "--body", "Please."]
    assert run_cli(capsys, *args, "--author", "owner").code == 0


def test_the_index_counts_issues_finished_without_a_person(
    tmp_path: Path, capsys, app, standin
) -> None:
    repo, _ = app
    _file(capsys, repo, "Let people pay with Stripe")  # triage rejects it by itself
    _file(capsys, repo, "Show how many notes there are")  # accepted
    res = run_cli(capsys, "--repo", str(repo), "triage", "--json")
    assert res.code == 0, res.err
    index = run_cli(capsys, "--repo", str(repo), "status", "--json").json()["autonomy_index"]
    assert (index["finished"], index["autonomous"], index["overall"]) == (1, 1, 1.0)

    # a person steps in: hands it to a person by label, then rejects it
    res = run_cli(capsys, "--repo", str(repo), "issue", "label", "2", "factory:needs-human")
    assert res.code == 0, res.err
    args = ["--repo", str(repo), "reject", "2", "--reason", "Not this quarter.", "--by", "carol"]
    res = run_cli(capsys, *args)
    assert res.code == 0, res.err
    status = run_cli(capsys, "--repo", str(repo), "status", "--json").json()
    index = status["autonomy_index"]
    assert (index["finished"], index["autonomous"], index["overall"]) == (2, 1, 0.5)
    assert index["by_kind"]["feature"] == {"overall": 0.5, "finished": 2, "autonomous": 1}
    assert status["trust"] == []  # no trust entry: every kind merges by itself
    text = run_cli(capsys, "--repo", str(repo), "status").out
    assert "autonomy index (30 days): 50% (1 of 2 finished issues without a person)" in text

    args = ("--repo", str(repo), "status", "--json", "--window-days", "7")
    assert run_cli(capsys, *args).json()["autonomy_index"]["window_days"] == 7
    store = Store.open(tmp_path / "state")
    kinds = [e.kind for e in store.events() if e.kind.startswith("human.")]
    assert kinds == ["human.label", "human.reject"]
    # the window: 31 days from now, these finished before the last 30 days
    later = time.time() + 31 * 86_400
    assert autonomy_index_for(store, 30, now=later).finished == 0
    assert autonomy_index_for(store, 60, now=later).finished == 2


def test_approving_an_issue_handed_to_a_person_requeues_it(
    tmp_path: Path, capsys, app, standin
) -> None:
    repo, _ = app
    _file(capsys, repo, "Show how many notes there are")
    assert run_cli(capsys, "--repo", str(repo), "triage").code == 0
    label = ("--repo", str(repo), "issue", "label", "1")
    assert run_cli(capsys, *label, "--remove", "factory:accepted").code == 0
    assert run_cli(capsys, *label, "factory:needs-human").code == 0
    res = run_cli(capsys, "--repo", str(repo), "approve", "1", "--by", "dana", "--json")
    assert res.code == 0, res.err
    assert (
        res.json()["outcome"] == "requeued" and "queued for implementation" in res.json()["message"]
    )
    labels = run_cli(capsys, "--repo", str(repo), "issue", "show", "1", "--json").json()["labels"]
    assert "factory:accepted" in labels and "factory:needs-human" not in labels
    store = Store.open(tmp_path / "state")
    (approval,) = [e for e in store.events() if e.kind == "human.approve"]
    assert approval.data == {
        "issue": 1,
        "actor": "dana",
        "label": "factory:needs-human",
        "via": None,  # the command line
        "head": None,
    }
    # the same person's approval again: it no longer waits for a person
    again = run_cli(capsys, "--repo", str(repo), "approve", "1")
    assert again.code == 2 and "not waiting for a person" in again.err


def test_each_day_s_index_counts_the_issues_in_its_window_to_the_microsecond(
    tmp_path: Path,
) -> None:
    """The Trends page's index of each day, counted per day by the store, is the index over
    the 30 days up to the day's last millisecond, whatever the time of day an issue finished:
    on the window's first instant, just after its last, at midnight."""
    store = Store.open(tmp_path)
    stamps = [
        "2026-03-01T12:00:00.000000Z",
        "2026-03-01T23:59:59.999000Z",  # the end of Mar 1, the start of Mar 31's window
        "2026-03-01T23:59:59.999001Z",
        "2026-03-02T00:00:00.000000Z",
        "2026-03-15T23:59:59.998999Z",
        "2026-03-31T23:59:59.999000Z",
        "2026-03-31T23:59:59.999999Z",  # after Mar 31's window, inside Apr 1's
        "2026-04-02T08:00:00.000000Z",
    ]
    with store.transaction() as db:
        for number, at in enumerate(stamps, start=1):
            db.execute(
                "INSERT INTO issue_outcomes VALUES (?, 'bug', ?, ?)", (number, at, number % 3 == 0)
            )
    days = [f"2026-03-{d:02}" for d in range(1, 32)] + ["2026-04-01", "2026-04-02"]
    ends = [
        (datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1)).timestamp() - 0.001
        for day in days
    ]
    expected = [autonomy_index_for(store, 30, end).overall for end in ends]
    assert autonomy_series(store, days, 30) == expected
    assert len(set(expected)) > 3  # windows that differ
