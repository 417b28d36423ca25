"""A target repository whose governance files and factory.yaml are committed on main."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import git


@pytest.fixture
def inited(empty_repo: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    res = run_cli(capsys, "--repo", str(empty_repo), "init")
    assert res.code == 0, res.err
    git(empty_repo, "add", "-A")
    git(empty_repo, "commit", "-q", "-m", "factory governance")
    return empty_repo
