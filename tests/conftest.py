"""Shared fixtures: every test gets its own state directory and no real credentials."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

_SCRUBBED = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "GITHUB_TOKEN",
    "GITHUB_REPOSITORY",
    "GITHUB_API_URL",
    "FACTORY_STATE_DIR",
    "FACTORY_MARKER_KEY",
    "GITHUB_ACTIONS",
)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FACTORY_STATE_DIR", str(tmp_path / "state"))
    # the repository secret a runner without state of its own has (tests that start from a
    # fresh state play such runners); the key-file path has tests of its own
    monkeypatch.setenv("FACTORY_MARKER_KEY", "test-marker-key-0f3c9a")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Maintainer")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "maintainer@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Maintainer")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "maintainer@example.invalid")
    yield


def git(cwd: Path, *args: str) -> str:
    """Run git in a test repository (tests may call git; the harness goes through harness.git)."""
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env={**os.environ}
    ).stdout


@pytest.fixture
def empty_repo(tmp_path: Path) -> Path:
    """A fresh git repository with one commit on ``main``."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# sample\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP listener on the host's loopback: (port, what it received), for network tests."""
    got: list[bytes] = []
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                got.append(conn.recv(100) or b"connected")
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield srv.getsockname()[1], got
    stop.set()
    thread.join(2)
    srv.close()
