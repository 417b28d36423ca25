"""Resource limits of a sandbox, in one place: a cgroup of its own (``Cgroup``: its tasks and
its memory, counted for that sandbox alone) where the kernel lets the harness make one — cgroup
v1's ``pids`` and ``memory`` hierarchies or cgroup v2 — and rlimits always for file size and
core dumps. What no cgroup holds falls back to an rlimit: ``RLIMIT_NPROC`` (which counts every
task of the uid on the host, so sandboxes sharing a uid share it) and ``RLIMIT_AS``. What a
worktree may hold is ``harness.sandbox.holding``'s."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

_CGROUPS = Path("/sys/fs/cgroup")
# what each controller's limit is written to: cgroup v1's file, then cgroup v2's
_FILES = (("pids", ("pids.max",)), ("memory", ("memory.limit_in_bytes", "memory.max")))
# the shell enters each cgroup, then becomes the command; one it cannot enter runs nothing
_ENTER = 'for f; do shift; [ "$f" = -- ] && break; echo $$ >"$f" || exit 125; done; exec "$@"'
PRLIMIT = "/usr/bin/prlimit"  # util-linux, as setpriv
SETPRIV = "/usr/bin/setpriv"  # as root, the command drops to the sandbox uid through it


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 300.0
    output_bytes: int = 200_000
    memory_mb: int = 4096  # the sandbox's memory (its cgroup), else each process's address space
    max_processes: int = 256  # the sandbox's tasks (its cgroup), else its uid's
    file_size_mb: int = 512
    tmp_mb: int = 1024  # the private /tmp (a tmpfs of this size)
    disk_mb: int = 2048  # what one command may write, and the worktree may hold
    max_new_files: int = 100_000  # files, folders and links one command may create
    max_files: int = 250_000  # what the worktree may hold (a node_modules is tens of thousands)


# a confined Chromium: a hundred threads and more, each a task; its page may not take the host
BROWSER_LIMITS = Limits(memory_mb=2048, max_processes=1024, file_size_mb=256)


def _sweep(place: Path) -> None:
    """The cgroups a killed process left in ``place`` (empty: its sandboxes died with it)."""
    for old in place.glob("factory-sandbox-*"):
        if not Path("/proc", old.name.split("-")[2]).exists():
            with contextlib.suppress(OSError):
                old.rmdir()


def _places(controller: str) -> list[Path]:
    """Where a cgroup holding ``controller`` may be made: under this process's own cgroup in
    cgroup v1's hierarchy of that controller (so the limits above it still hold), else at
    cgroup v2's root (the only cgroup v2 that may hold processes and enable controllers)."""
    own = "/"
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, names, path = line.split(":", 2)
            own = path if controller in names.split(",") else own
    return [_CGROUPS / controller / own.lstrip("/"), _CGROUPS]


class Cgroup:
    """The cgroup of one sandbox (or confined browser), limiting its tasks and memory; ``held``
    names the limits it holds (none where no cgroup can be made: the rlimits stand in)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        name = f"factory-sandbox-{os.getpid()}-{secrets.token_hex(4)}"  # its process's
        self.paths: list[Path] = []
        self.held: set[str] = set()
        values = {"pids": limits.max_processes, "memory": limits.memory_mb << 20}
        for controller, files in _FILES:
            for place in _places(controller):
                _sweep(place)
                path = place / name
                if self._limit(path, files, str(values[controller])):
                    self.held.add(controller)
                    self.paths += [path] if path not in self.paths else []
                    break
                with contextlib.suppress(OSError):
                    if path not in self.paths:
                        path.rmdir()

    @staticmethod
    def _limit(path: Path, files: tuple[str, ...], value: str) -> bool:
        with contextlib.suppress(OSError):
            path.mkdir(exist_ok=True)
            for found in (path / f for f in files if (path / f).exists()):
                found.write_text(value)
                return True
        return False

    def entered(self, argv: list[str]) -> list[str]:
        """``argv`` started inside the cgroup, under the rlimits of what it does not hold
        (``limited``): a shell moves itself in, then becomes it (no code runs in the forked
        harness, which a large threaded process pays for dearly)."""
        argv = limited(self.limits, argv, self.held)
        if not self.held:
            return argv
        procs = [str(p / "cgroup.procs") for p in self.paths]
        return ["/bin/sh", "-c", _ENTER, "factory-cgroup", *procs, "--", *argv]

    def kill_all(self) -> None:
        for path in self.paths:
            with contextlib.suppress(OSError):
                (path / "cgroup.kill").write_text("1")  # cgroup v2: every task at once
            for _ in range(50):
                try:
                    pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
                except OSError:
                    break
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, 9)
                if not pids:
                    break

    def remove(self) -> None:
        """Remove the cgroup once its last task is gone (for at most two seconds): the
        command's processes leave it a moment after they exit, so the first waits are short."""
        self.kill_all()
        pause = 0.001
        deadline = time.monotonic() + 2.0
        while self.paths:
            try:
                self.paths[-1].rmdir()
                self.paths.pop()
            except OSError:
                if time.monotonic() >= deadline:
                    return
                time.sleep(pause)
                pause = min(pause * 2, 0.02)


def limited(limits: Limits, argv: list[str], held: set[str]) -> list[str]:
    """``argv`` under the rlimits set before it runs (``prlimit``): file size, no core dumps,
    and — where its cgroup (``held``) does not hold them — address space and (binding for
    the unprivileged uid it runs as) the process count."""
    memory = limits.memory_mb * 1024 * 1024
    size = limits.file_size_mb * 1024 * 1024
    procs = limits.max_processes
    return [
        PRLIMIT,
        *([] if "memory" in held else [f"--as={memory}:{memory}"]),
        f"--fsize={size}:{size}",
        *([] if "pids" in held else [f"--nproc={procs}:{procs}"]),
        "--core=0:0",
        "--",
        *argv,
    ]
