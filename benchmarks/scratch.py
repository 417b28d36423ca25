"""Where a benchmark run keeps its files: one folder in the system's temporary folder, for
every repository, state and worktree the run makes, deleted at the end together with the
worktree folders (on tmpfs when it has room) of the states made in it. A whole ``make
bench`` made about 360 MB of folders and 200 MB of worktrees in memory, and left them."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.git.worktrees import default_worktree_root
from harness.sandbox.policy import fresh_root

SYSTEM_TMP = Path(tempfile.gettempdir())  # read before any run moves it


@contextmanager
def scratch() -> Iterator[Path]:
    """Every temporary folder made meanwhile (``tempfile``) goes inside one, removed after."""
    root = Path(tempfile.mkdtemp(prefix="factory-bench-"))
    before, tempfile.tempdir = tempfile.tempdir, str(root)
    try:
        yield root
    finally:
        tempfile.tempdir = before
        _remove_worktree_folders(root)
        shutil.rmtree(root, ignore_errors=True)


def _remove_worktree_folders(root: Path) -> None:
    """The worktree folders (and their fresh copies) of every folder under ``root`` that
    was a state: they live outside it when tmpfs has room."""
    for folder, _, _ in os.walk(root):
        state = Path(folder)
        for made in (default_worktree_root(state), fresh_root(state)):
            if not made.is_relative_to(root):
                shutil.rmtree(made, ignore_errors=True)
