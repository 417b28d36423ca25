"""The sandbox's own cost: how soon a command starts after another filled its worktree."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.figures import Figure
from harness.caches import PROCESS
from harness.sandbox.bwrap import Sandbox
from harness.sandbox.limits import Limits

FILES = 90_000  # under the per-command cap (100,000)
MAKE = f"mkdir d && python3 -c \"[open(f'd/{{i}}', 'w').close() for i in range({FILES})]\""


def _timed(box: Sandbox, command: str) -> float:
    started = time.monotonic()
    result = box.run(command)
    if result.exit_code != 0:
        raise RuntimeError(f"{command!r} failed: {result.output[-300:]}")
    return time.monotonic() - started


def command_after_many_files() -> Figure:
    """A command creates 90,000 files; the next one starts without walking them. The walk a
    worktree costs once per harness process, and the count after a command that moved the
    file system's counters (so the next starts from an exact count), are in the note."""
    root = Path(tempfile.mkdtemp(prefix="factory-bench-"))
    try:
        worktree = root / "w"
        worktree.mkdir()
        box = Sandbox(worktree, Limits(timeout_s=900))
        empty = _timed(box, "true")
        made = _timed(box, MAKE)
        after = _timed(box, "true")
        touched = _timed(box, "touch one-more")  # moves the counters: counted after it
        PROCESS.reset()  # as a new harness process would find it
        walked = _timed(box, "true")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return Figure(
        name="command start after 90,000 new files",
        value=f"{after:.2f} s",
        goal="≤ 1 s",
        ratio=1.0 / max(after, 1e-3),
        note=f"an empty worktree's command {empty:.2f} s; making the files {made:.1f} s; the "
        f"first command of a new harness process walks them once: {walked:.2f} s; a command "
        f"that adds a file is counted after it (a walk that stops past the caps): {touched:.2f} s",
    )
