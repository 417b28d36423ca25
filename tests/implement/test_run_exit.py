"""``factory run --once`` exit codes (docs/user-guide.md, "Exit codes") and tables that fit 80
columns or pipe as TSV. The security gate's analysers stand in as having found nothing
(``analysers_quiet``): another gate refuses the change."""

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


def test_an_idle_cycle_exits_0_and_needs_no_key(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing to triage, implement or validate: no model is asked, so none must be ready (a
    cron job on a quiet repository); with an issue to judge, the cycle says what to set."""
    repo = make_app_repo(tmp_path)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    res = run_cli(capsys, "--repo", str(repo), "run", "--once", "--fail-on-waiting")
    assert res.code == 0, res.err
    _file(capsys, repo, "Add a greeting")
    res = run_cli(capsys, "--repo", str(repo), "run", "--once")
    assert res.code == 2 and "ANTHROPIC_API_KEY" in res.err, res.err
    shown = run_cli(capsys, "--repo", str(repo), "issue", "show", "1", "--json").json()
    assert shown["labels"] == []  # refused before anything was judged


@pytest.mark.usefixtures("analysers_quiet")
def test_a_refusal_handed_to_a_person_exits_3_when_asked_and_fits_80_columns(
    tmp_path: Path, capsys, standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gate refused the change and handed the issue to a person: the cycle ran (exit 0,
    whatever became of the issue), and ``--fail-on-waiting`` says a person must act (3)."""
    repo = make_app_repo(tmp_path)
    _file(capsys, repo, "Refactor everything " + "and then some more words " * 6)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # render as a terminal of 80 columns
    monkeypatch.setenv("COLUMNS", "80")
    res = run_cli(capsys, "--repo", str(repo), "run", "--once", "--fail-on-waiting")
    assert res.code == 3, res.err
    assert _widest(res.out) <= 80, res.out
    assert "waiting for a person: #1" in res.out
    text = " ".join(Text.from_ansi(res.out).plain.replace("│", " ").split())
    assert "changed_lines" in text  # the reason folds over lines, it is never cut
    idle = run_cli(capsys, "--repo", str(repo), "run", "--once", "--fail-on-waiting")
    assert idle.code == 0 and "waiting for a person: #1" in idle.out, idle.out  # who waits
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
