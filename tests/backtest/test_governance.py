"""``--governance REV`` rehearses a governance edit before it is committed to production: the
report says which decisions moved against the last backtest of the same cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.backtest.conftest import TITLE_2, history, requests_text
from tests.cli_helpers import run_cli
from tests.factory_repo import git


def edit(repo: Path, branch: str, old: str, new: str) -> str:
    """A governance edit on a branch of its own (production stays as it is)."""
    git(repo, "checkout", "-q", "-b", branch, "main")
    rules = repo / "factory_rules.md"
    text = rules.read_text()
    assert old in text
    rules.write_text(text.replace(old, new))
    git(repo, "commit", "-qam", f"governance edit {branch}")
    git(repo, "checkout", "-q", "main")
    return git(repo, "rev-parse", branch).strip()


def backtest(capsys, repo: Path, *args: str) -> dict[str, Any]:
    res = run_cli(capsys, "--repo", str(repo), "backtest", "--issue", "2", "--json", *args)
    assert res.code == 0, res.err
    out: dict[str, Any] = res.json()
    return out


def test_a_governance_edit_shows_the_decisions_it_changes(tmp_path: Path, capsys, standin) -> None:
    repo = history(tmp_path, capsys, journeys=False)  # its cases end before validation
    main = git(repo, "rev-parse", "main").strip()
    trusted = "trusted_authors: [owner]"
    short = edit(repo, "short-titles", trusted, trusted + ", max_title_chars: 10")
    label = edit(repo, "label-first", trusted, trusted + ", untrusted_requires_label: true")

    first = backtest(capsys, repo, "--governance", "short-titles")
    (row,) = first["cases"]
    assert first["governance"] == short and first["rehearsed_edit"]
    assert (row["issue"], row["triage"], row["route"], row["resolved"]) == (
        2,
        "reject",
        None,
        None,  # never attempted: neither resolved nor not
    )
    assert "stopped at triage (reject): nothing was attempted" in row["reason"], row
    assert "changed" not in row and "compared_with" not in first["summary"]
    assert not any(TITLE_2 in t for t in requests_text(standin))  # the pre-screen refused it

    second = backtest(capsys, repo, "--governance", "label-first")
    (row,) = second["cases"]
    assert second["governance"] == label
    assert (row["triage"], row["route"]) == ("accept", None)
    assert "factory:approved" in row["reason"]  # accepted, then waits for a maintainer
    assert row["changed"] == [{"field": "triage", "before": "reject", "after": "accept"}]
    assert row["compared_with"] == first["backtest"]
    assert second["summary"]["changed"] == 1
    assert second["summary"]["compared_with"] == [first["backtest"]]
    assert git(repo, "rev-parse", "main").strip() == main

    shown = run_cli(
        capsys, "--repo", str(repo), "backtest", "--issue", "2", "--governance", "label-first"
    )
    assert shown.code == 0  # the same cases and governance again: a new backtest, compared
    assert f"0 changed since {second['backtest']}" in shown.out  # with the one just before
    header, line = shown.out.splitlines()[:2]  # piped: a header and a row per case
    assert header.split("\t")[:4] == ["case", "issue", "triage", "route"]
    assert line.split("\t")[1:3] == ["2", "accept"]
