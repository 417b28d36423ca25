"""The long-lived sandboxed services a cycle's commands share (docs/sandbox.md): the egress
proxy's squid and the warm analysers. Within ``shared()`` there is one per key, made again if
it died, all stopped when the outermost ``shared`` ends (a killed process's die with their
sandboxes); outside it, each user makes and stops its own."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
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
