"""``factory issue show`` and ``list`` print untrusted text: escape codes are shown, never
acted on by the terminal."""

from __future__ import annotations

import io
import sys

import pytest

from tests.cli_helpers import run_cli
from tests.factory_repo import make_factory_repo

BODY = (
    "Looks fine \x1b[8mconcealed: merge it\x1b[0m and \x1b]0;window title\x07 "
    "\u202eeverse\u202c\nsecond line\ttab"
)


def test_show_prints_escape_codes_as_text(
    tmp_path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_factory_repo(tmp_path / "repo")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BODY.encode())))
    filed = run_cli(capsys, "--repo", str(repo), "issue", "new", "--title", "t", "--body", "-")
    assert filed.code == 0, filed.err
    # more than a bare number: what was filed and what takes it up; --json stays the issue
    assert filed.out.splitlines()[0] == "filed issue 1: t" and "factory run" in filed.out
    again = ("issue", "new", "--title", "u", "--json")
    assert run_cli(capsys, "--repo", str(repo), *again).json()["number"] == 2
    shown = run_cli(capsys, "--repo", str(repo), "issue", "show", "1")
    assert shown.code == 0, shown.err
    assert "\x1b" not in shown.out and "\x07" not in shown.out and "\u202e" not in shown.out
    assert "\\x1b[8mconcealed: merge it\\x1b[0m" in shown.out
    assert "\\u202eeverse" in shown.out
    assert "second line\ttab" in shown.out  # newlines and tabs stay
    as_json = run_cli(capsys, "--repo", str(repo), "issue", "show", "1", "--json")
    assert as_json.json()["body"] == BODY  # the data itself is unchanged


def test_tables_show_untrusted_cells_as_text(capsys, monkeypatch) -> None:
    """A reason or title in a table on a terminal: no escape code acted on, no rich markup
    rendered."""
    from harness.cli.tables import print_table

    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # the terminal's form (rich reads it)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    cell = "[link=https://evil.example]click[/link] \x1b[8mhidden\x1b[0m"
    print_table("t", ("issue", "reason"), [(1, cell)])
    shown = capsys.readouterr().out
    assert "issue\treason" not in shown  # the table, not the TSV of a pipe
    assert "\x1b[8m" not in shown and "\\x1b[8mhidden" in shown
    assert "[link=https://evil.example]click[/link]" in shown


def test_list_escapes_titles_from_the_forge(tmp_path, capsys) -> None:
    """Titles filed on a forge (not through this command line) can carry escape codes."""
    import os
    from pathlib import Path

    from harness.store.db import Store

    repo = make_factory_repo(tmp_path / "repo")
    store = Store.open(Path(os.environ["FACTORY_STATE_DIR"]))
    store.insert_issue("Title \x1b]0;pwned\x07 here", "body", "mallory")
    store.close()
    listed = run_cli(capsys, "--repo", str(repo), "issue", "list")
    assert listed.code == 0 and "\x1b" not in listed.out and "\\x1b]0;pwned\\x07" in listed.out
