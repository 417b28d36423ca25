"""Where a benchmark run keeps its files: one folder in the system's temporary folder, for
every repository, state and worktree the run makes, deleted at the end together with the
worktree folders (on tmpfs when it has room) of the states made in it. A whole ``make
bench`` made about 360 MB of folders and 200 MB of worktrees in memory, and left them."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from harness.git.worktrees import recorded_tmpfs

SYSTEM_TMP = Path(tempfile.gettempdir())  # read before any run moves it
T = TypeVar("T")


@contextmanager
def scratch() -> Iterator[Path]:
    """Every temporary folder made meanwhile (``tempfile``) goes inside one, removed after."""
    root = Path(tempfile.mkdtemp(prefix="factory-bench-"))
    before, tempfile.tempdir = tempfile.tempdir, str(root)
    try:
        yield root
    finally:
        tempfile.tempdir = before
        remove_worktree_folders(root)
        shutil.rmtree(root, ignore_errors=True)


def remove_worktree_folders(root: Path) -> None:
    """The folder on tmpfs (worktrees, their fresh copies and kept set-ups) of every folder
    under ``root`` that was a state: it lives outside it, named in the state."""
    for folder, _, _ in os.walk(root):
        made = recorded_tmpfs(Path(folder))
        if made is not None and not made.is_relative_to(root):
            shutil.rmtree(made, ignore_errors=True)


def apart(work: Callable[[], T]) -> T:
    """``work`` done in a process of its own, started for it (its temporary files in this
    process's folder for them). The store's figures are CPU per page or command, as a
    dashboard's or a command's process spends it; by the end of a whole run this process
    holds every earlier figure's objects, and each of the interpreter's full collections
    walks all of them (over a million objects: about 260 ms, counted against whichever page
    was being read)."""
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(1, initializer=_use_tmp, initargs=(tempfile.gettempdir(),)) as pool:
        return pool.apply(work)


def _use_tmp(folder: str) -> None:
    tempfile.tempdir = folder
