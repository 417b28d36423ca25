"""The long-lived sandboxed services a cycle's commands share (docs/sandbox.md): the egress
proxy's squid and the warm analysers. Within ``shared()`` there is one per key, made again if
it died, all stopped when the outermost ``shared`` ends (a killed process's die with their
sandboxes); outside it, each user makes and stops its own."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar, cast

from harness.caches import PROCESS


class Service(Protocol):
    def alive(self) -> bool: ...

    def stop(self) -> None: ...


S = TypeVar("S", bound=Service)


@dataclass
class _Shared:
    lock: threading.Lock = field(default_factory=threading.Lock)
    depth: int = 0
    services: dict[Hashable, Service] = field(default_factory=dict)
    dead: list[Service] = field(default_factory=list)  # replaced: stopped with the others


@contextlib.contextmanager
def shared() -> Iterator[None]:
    """Within it, users of one key share one service, stopped when the outermost ends."""
    kept = PROCESS.part(_Shared)
    with kept.lock:
        kept.depth += 1
    try:
        yield
    finally:
        with kept.lock:
            kept.depth -= 1
            done = [*kept.services.values(), *kept.dead] if not kept.depth else []
            if not kept.depth:  # the outermost: what it kept is stopped below
                kept.services.clear()
                kept.dead.clear()
        for service in done:
            service.stop()


def within() -> bool:
    """Whether a ``shared()`` is open in this process (a cycle's, or a command's that goes on
    to validate what it made)."""
    return PROCESS.part(_Shared).depth > 0


def service(key: Hashable, make: Callable[[], S]) -> tuple[S, bool]:
    """The service for ``key`` and whether the caller owns it (stops it when done): within
    ``shared()`` the one kept (made again if it died), outside it a new one."""
    kept = PROCESS.part(_Shared)
    with kept.lock:
        found = kept.services.get(key) if kept.depth else None
        if found is None or not found.alive():
            kept.dead += [found] if found is not None else []
            found = make()
            kept.services.update({key: found} if kept.depth else {})
        return cast(S, found), not kept.depth


def _started(pid: int) -> str | None:
    """When the process ``pid`` started (clock ticks since boot), None if it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def own_folder(parent: Path, prefix: str) -> Path:
    """A new folder of this process's under ``parent`` (its name ``prefix`` and letters), with
    a file naming its owner: the process and when it started, so that a pid taken again is not
    its owner. The folders of ``prefix`` whose owner is gone (a killed process's) are removed
    first; one whose owner file is not written yet is being made."""
    parent.mkdir(parents=True, exist_ok=True)
    for old in parent.glob(f"{prefix}*"):
        with contextlib.suppress(OSError, ValueError):
            pid, started = (old / "owner").read_text().split()
            if _started(int(pid)) != started:
                shutil.rmtree(old, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    (folder / "owner").write_text(f"{os.getpid()} {_started(os.getpid())}")
    return folder
