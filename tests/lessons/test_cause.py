"""Lessons by cause, on a repository the factory maintains: its own merges are the fixed cases a
proposal is rehearsed on, known by its records, never by the merge commit's words."""

from __future__ import annotations

from pathlib import Path

from harness.backtest.cases import history_cases
from harness.cli.common import state_dir
from harness.services import open_services
from tests.factory_repo import git, make_factory_repo
from tests.heal.conftest import land


def test_the_factorys_merges_are_cases_by_its_records_alone(tmp_path: Path) -> None:
    """A merge is a case by the state's landing records: the same history read with a fresh
    state (a new runner) holds none, whatever its merge commits say; a commit that says
    ``Fixes #N`` still is one."""
    repo = make_factory_repo(tmp_path / "repo")
    helped, _ = land(repo, state_dir(repo), "Add a help page", {"help.txt": "Press Add.\n"})
    kept = open_services(repo, state_dir(repo))
    assert [c.issue for c in history_cases(kept)] == [helped]
    kept.store.close()
    fresh = open_services(repo, tmp_path / "fresh")
    number = fresh.forge.create_issue("Add a help page", "Please.", "owner").number
    assert number == helped and history_cases(fresh) == []
    git(repo, "commit", "-q", "--allow-empty", "-m", f"Help text\n\nFixes #{number}")
    assert [c.issue for c in history_cases(fresh)] == [number]
    fresh.store.close()
