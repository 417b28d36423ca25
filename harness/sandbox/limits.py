"""Resource limits of a sandboxed command: a pids cgroup where the kernel lets us make one,
rlimits always (RLIMIT_NPROC binds only non-root users, hence the cgroup), and what its
worktree may hold (``harness.sandbox.holding``)."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

_PIDS_ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))
PRLIMIT = "/usr/bin/prlimit"  # util-linux, as setpriv


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 300.0
    output_bytes: int = 200_000
    memory_mb: int = 4096
    max_processes: int = 256
    file_size_mb: int = 512
    tmp_mb: int = 1024  # the private /tmp (a tmpfs of this size)
    disk_mb: int = 2048  # what one command may write, and the worktree may hold
    max_new_files: int = 100_000  # files, folders and links one command may create
    max_files: int = 250_000  # what the worktree may hold (a node_modules is tens of thousands)


class PidsCgroup:
    """A cgroup capping the number of tasks (v1 ``pids`` or v2 with the pids controller)."""

    def __init__(self, max_processes: int) -> None:
        self.path: Path | None = None
        for root in _PIDS_ROOTS:
            try:
                candidate = root / f"factory-{secrets.token_hex(4)}"
                candidate.mkdir()
            except OSError:
                continue
            if (candidate / "pids.max").exists():
                try:
                    (candidate / "pids.max").write_text(str(max_processes))
                    self.path = candidate
                    break
                except OSError:
                    pass
            with contextlib.suppress(OSError):
                candidate.rmdir()

    def entered(self, argv: list[str]) -> list[str]:
        """``argv`` started inside the cgroup: a shell moves itself in, then becomes it (no
        code runs in the forked harness, which a large threaded process pays for dearly)."""
        if self.path is None:
            return argv
        enter = 'echo $$ >"$1" && shift && exec "$@"'
        return ["/bin/sh", "-c", enter, "factory-cgroup", str(self.path / "cgroup.procs"), *argv]

    def kill_all(self) -> None:
        if self.path is None:
            return
        with contextlib.suppress(OSError):
            kill = self.path / "cgroup.kill"
            if kill.exists():
                kill.write_text("1")
                return
        for _ in range(50):
            try:
                pids = [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
            except OSError:
                return
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, 9)

    def remove(self) -> None:
        """Remove the cgroup once its last task is gone (for at most two seconds): the
        command's processes leave it a moment after they exit, so the first waits are short."""
        if self.path is None:
            return
        self.kill_all()
        pause, deadline = 0.001, time.monotonic() + 2.0
        while True:
            try:
                self.path.rmdir()
                return
            except OSError:
                if time.monotonic() >= deadline:
                    return
                time.sleep(pause)
                pause = min(pause * 2, 0.02)


def limited(limits: Limits, argv: list[str]) -> list[str]:
    """``argv`` under the limits set before it runs (``prlimit``): memory, file size, no core
    dumps and (binding for the unprivileged uid the command runs as) the process count."""
    memory = limits.memory_mb * 1024 * 1024
    size = limits.file_size_mb * 1024 * 1024
    procs = limits.max_processes
    return [
        PRLIMIT,
        f"--as={memory}:{memory}",
        f"--fsize={size}:{size}",
        f"--nproc={procs}:{procs}",
        "--core=0:0",
        "--",
        *argv,
    ]
