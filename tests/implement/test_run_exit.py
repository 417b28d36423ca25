"""``factory run --once`` exit codes (docs/user-guide.md, "Commands") and tables that fit 80 columns or pipe as TSV."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.text import Text

from tests.cli_helpers import run_cli
from tests.implement.conftest import make_app_repo


def _widest(out: str) -> int:
    return max(Text.from_ansi(line).cell_len for line in out.splitlines())


def _file(capsys, repo: Path, title: str) -> None:
    args = ("issue", "new", "--title", title, "--body", "Please.", "--author", "owner")
    assert run_cli(capsys, "--repo", str(repo), *args).code == 0


def test_run_exits_0_when_nothing_was_refused(tmp_path: Path, capsys, standin) -> None:
    repo = make_app_repo(tmp_path)
    res = run_cli(capsys, "--repo", str(repo), "run", "--once")
    assert res.code == 0, res.err


def test_run_exits_1_when_a_gate_refused_and_fits_80_columns(
    tmp_path: Path, capsys, standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_app_repo(tmp_path)
    _file(capsys, repo, "Refactor everything " + "and then some more words " * 6)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # render as a terminal of 80 columns
    monkeypatch.setenv("COLUMNS", "80")
    res = run_cli(capsys, "--repo", str(repo), "run", "--once")
    assert res.code == 1, res.err
    assert _widest(res.out) <= 80, res.out
    text = " ".join(Text.from_ansi(res.out).plain.replace("│", " ").split())
    assert "changed_lines" in text  # the reason folds over lines, it is never cut
    _file(capsys, repo, "Add a greeting " + "with a long title that folds " * 4)
    triaged = run_cli(capsys, "--repo", str(repo), "triage")
    assert triaged.code == 0 and _widest(triaged.out) <= 80, triaged.out
    runs = run_cli(capsys, "--repo", str(repo), "runs")
    assert runs.code == 0 and _widest(runs.out) <= 80, runs.out
    for name in ("TTY_COMPATIBLE", "COLUMNS"):
        monkeypatch.delenv(name)
    piped = run_cli(capsys, "--repo", str(repo), "runs").out.splitlines()
    assert piped[0].split("\t")[:4] == ["id", "workflow", "issue", "outcome"]
    assert {len(line.split("\t")) for line in piped} == {8}
    assert all(re.match(r"\d+/\d+$", line.split("\t")[-1]) for line in piped[1:])
    assert "─" not in "".join(piped)
