"""``factory implement N``: claim the issue, then run (or resume) the implement workflow."""

from __future__ import annotations

import os
import secrets
import socket

from harness.engine.context import Lease, Services
from harness.engine.runner import Engine, RunOutcome, check_kill_switch
from harness.errors import UsageError

LEASE_TTL_S = 4 * 3600.0


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def holder_is_gone(holder: str) -> bool:
    """True if ``holder`` was a process on this host that no longer runs (it crashed)."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def implement_issue(services: Services, number: int) -> RunOutcome:
    check_kill_switch(services)
    issue = services.forge.get_issue(number)
    if issue.state != "open" or "factory:accepted" not in issue.labels:
        raise UsageError(f"issue {number} is not an open issue accepted by triage")
    if "factory:needs-review" in issue.labels or "factory:merged" in issue.labels:
        raise UsageError(f"issue {number} already has a pull request")
    holder = holder_id()
    store = services.store
    fence = store.acquire_lease(number, holder, LEASE_TTL_S, is_stale=holder_is_gone)
    try:
        engine = Engine(services, Lease(number, holder, fence))
        return engine.run("implement", number, {"number": number})
    finally:
        store.release_lease(number, holder)
