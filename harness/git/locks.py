"""Inter-process locks in a repository's common git directory (``fcntl.flock``).

A flock belongs to an open file, so the same lock also excludes threads of one process that
each open it. The lock files stay behind empty; a process that dies releases its lock.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def file_lock(path: Path, shared: bool = False) -> Iterator[None]:
    """Hold ``path`` locked (exclusive, or shared with other shared holders) for the block."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
