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
    shown = run_cli(capsys, "--repo", str(repo), "issue", "show", "1")
    assert shown.code == 0, shown.err
    assert "\x1b" not in shown.out and "\x07" not in shown.out and "\u202e" not in shown.out
    assert "\\x1b[8mconcealed: merge it\\x1b[0m" in shown.out
    assert "\\u202eeverse" in shown.out
    assert "second line\ttab" in shown.out  # newlines and tabs stay
    as_json = run_cli(capsys, "--repo", str(repo), "issue", "show", "1", "--json")
    assert as_json.json()["body"] == BODY  # the data itself is unchanged
