"""``factory implement N``: claim the issue, then run (or resume) the implement workflow."""

from __future__ import annotations

import os
import secrets
import socket

from harness.artifacts import ChangeInputs
from harness.engine.context import Lease, Services
from harness.engine.runner import Engine, RunOutcome, check_kill_switch
from harness.errors import UsageError
from harness.forge.base import Issue, Label

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


def waits_for_approval(services: Services, issue: Issue) -> bool:
    """The trust tier: with ``triage.untrusted_requires_label``, an accepted issue from an author
    outside ``trusted_authors`` is implemented only once a maintainer labels it approved."""
    settings = services.settings
    return (
        settings.governance.rules.triage.untrusted_requires_label
        and not settings.trusts(issue.author)
        and Label.APPROVED not in issue.labels
    )


def _check_ready(services: Services, issue: Issue) -> None:
    number = issue.number
    if Label.ACCEPTED not in issue.labels:
        raise UsageError(f"issue {number} is not an open issue accepted by triage")
    if Label.NEEDS_REVIEW in issue.labels or Label.MERGED in issue.labels:
        raise UsageError(f"issue {number} already has a pull request")
    if waits_for_approval(services, issue):
        raise UsageError(
            f"issue {number} is from an untrusted author and waits for a maintainer's "
            f"{Label.APPROVED} label (factory_rules.md: triage.untrusted_requires_label)"
        )


def implement_issue(services: Services, number: int) -> RunOutcome:
    check_kill_switch(services)
    issue = services.forge.get_issue(number)
    if issue.state != "open":
        raise UsageError(f"issue {number} is not an open issue accepted by triage")
    if services.store.find_open_run("implement", number) is None:  # else: resumed as it was
        _check_ready(services, issue)
    holder = holder_id()
    store = services.store
    fence = store.acquire_lease(number, holder, LEASE_TTL_S, is_stale=holder_is_gone)
    try:
        engine = Engine(services, Lease(number, holder, fence))
        return engine.run("implement", number, ChangeInputs(number=number))
    finally:
        store.release_lease(number, holder)
