"""A "needs info" issue is judged again once its author edits it — once per edit."""

from __future__ import annotations

from pathlib import Path

from tests.cli_helpers import repo_cli
from tests.triage.conftest import make_repo


def test_an_edited_needs_info_issue_is_triaged_again_once(
    tmp_path: Path, capsys, anthropic_env
) -> None:
    repo = make_repo(tmp_path)

    cli = repo_cli(capsys, repo)

    new = ("issue", "new", "--title", "It doesn't work", "--body", "Broken.", "--author", "bob")
    assert cli(*new).code == 0
    first = cli("triage", "--json").json()
    assert [(r["issue"], r["decision"]) for r in first] == [(1, "needs_info")]
    assert cli("triage", "--json").json() == []  # unchanged: not asked again
    calls = len(anthropic_env.received)

    edit = ("issue", "edit", "1", "--title", "Search notes by word")
    assert cli(*edit, "--body", "I type a word and want the notes that hold it.").code == 0
    again = cli("triage", "--json").json()
    assert [(r["issue"], r["decision"]) for r in again] == [(1, "accept")]
    assert len(anthropic_env.received) > calls
    labels = cli("issue", "show", "1", "--json").json()["labels"]
    assert "factory:accepted" in labels and "factory:needs-info" not in labels
    assert cli("triage", "--json").json() == []  # judged: once per edit
