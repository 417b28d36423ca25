"""Bad input to approve and reject: one line on stderr and exit 2, nothing recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.store.db import Store
from tests.cli_helpers import run_cli


@pytest.mark.parametrize(
    "args",
    [
        ("approve", str(2**70)),
        ("approve", "0"),
        ("reject", "1"),  # no --reason
        ("reject", "1", "--reason", "   "),
        ("reject", "1", "--reason", "bell\x07"),
        ("reject", "1", "--reason", "x" * 2001),
        ("approve", "1", "--by", "two words"),
        ("approve", "1", "--by", ""),
        ("approve", "1"),  # open, but accepted: not waiting for a person
        ("reject", "1", "--reason", "no"),
        ("approve", "99"),  # no such issue
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys, app, args) -> None:
    repo, _ = app
    res = run_cli(capsys, "--repo", str(repo), "issue", "new", "--title", "A", "--author", "owner")
    assert res.code == 0, res.err
    labelled = run_cli(capsys, "--repo", str(repo), "issue", "label", "1", "factory:accepted")
    assert labelled.code == 0
    res = run_cli(capsys, "--repo", str(repo), *args)
    assert res.code == 2 and len(res.err.splitlines()) == 1, res.err
    assert "Traceback" not in res.err and res.out == ""
    events = Store.open(tmp_path / "state").events()
    assert not [e for e in events if e.kind in ("human.approve", "human.reject")]
