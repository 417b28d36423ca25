"""CPU seconds of this process and of every process it starts meanwhile, sandboxes included.

``getrusage`` does not see CPU spent under ``bwrap --unshare-pid`` (a 1 s burner there reads
0 s): the sandboxed command is not the harness's waited-for child. A cgroup's own accounting
counts every task that ran in it, whatever namespaces it made: the process joins a cgroup of
its own for the measured stretch (cgroup v1's ``cpuacct``, else a cgroup v2 ``cpu.stat``), and
the processes it starts meanwhile are born in it. Where neither can be made (no root, no
delegation), ``getrusage`` is the fallback and the figure says so."""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Callable, Iterator
from pathlib import Path

V1 = Path("/sys/fs/cgroup/cpuacct")
V2 = (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))


def _usage_s(group: Path) -> float:
    if (group / "cpuacct.usage").exists():
        return int((group / "cpuacct.usage").read_text()) / 1e9
    fields = dict(line.split() for line in (group / "cpu.stat").read_text().splitlines())
    return int(fields["usage_usec"]) / 1e6


def _rusage_s() -> float:
    own, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _parent(pid: int, hierarchy: Path) -> Path:
    """The cgroup ``pid`` is in, in the hierarchy mounted at ``hierarchy``."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if ("cpuacct" in controllers.split(",")) if hierarchy == V1 else controllers == "":
            return hierarchy / path.lstrip("/")
    raise OSError(f"not in a cgroup of {hierarchy}")


@contextlib.contextmanager
def counted() -> Iterator[tuple[Callable[[], float], str]]:
    """(CPU seconds so far, how they are counted) for this process and what it starts inside
    the ``with``: from a cgroup of its own when one can be made, else ``getrusage``."""
    pid = os.getpid()
    for hierarchy in (V1, *V2):
        try:
            if hierarchy != V1 and not (hierarchy / "cgroup.controllers").exists():
                continue
            home = _parent(pid, hierarchy)
            group = home / f"factory-bench-{pid}-{time.monotonic_ns()}"
            group.mkdir()
            (group / "cgroup.procs").write_text(str(pid))
        except OSError:
            continue
        start = _usage_s(group)
        try:
            used = lambda g=group, s=start: _usage_s(g) - s  # noqa: E731
            yield used, f"cgroup {hierarchy.name} accounting"
        finally:
            with contextlib.suppress(OSError):
                (home / "cgroup.procs").write_text(str(pid))
            for _ in range(50):  # its last children leave it as they are reaped
                with contextlib.suppress(OSError):
                    group.rmdir()
                    break
                time.sleep(0.1)
        return
    start = _rusage_s()
    yield (lambda: _rusage_s() - start), "getrusage (sandboxed commands not counted)"


def core_s() -> float:
    """How fast one core is now: the CPU seconds (this thread's) of ten million additions in
    a Python loop, from one million."""
    started, total = time.thread_time(), 0
    for i in range(1_000_000):
        total += i
    return 10 * (time.thread_time() - started)
