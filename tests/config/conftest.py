"""A target repository whose governance files and factory.yaml are committed on main."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import git, make_empty_repo
from tests.validate.conftest import Output, isolated_env


@pytest.fixture(scope="session")
def inited_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``factory init`` on a fresh repository, committed, made once for the session: the
    repository and the hold-out folder beside it that ``init`` writes (``inited`` copies
    them for each test, which may change them as it likes)."""
    root = tmp_path_factory.mktemp("inited")
    with isolated_env(root / "state"), Output() as out:
        repo = make_empty_repo(root)
        res = run_cli(out, "--repo", str(repo), "init")
        assert res.code == 0, res.err
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "factory governance")
    return root


@pytest.fixture
def inited(inited_once: Path, tmp_path: Path) -> Path:
    for folder in inited_once.iterdir():
        if folder.name != "state":
            shutil.copytree(folder, tmp_path / folder.name, symlinks=True)
    return tmp_path / "repo"
