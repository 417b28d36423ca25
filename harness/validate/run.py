"""``factory validate N``: claim the issue, then validate (and maybe merge) its PR."""

from __future__ import annotations

from harness.engine.context import Lease, Services
from harness.engine.runner import Engine, RunOutcome, check_kill_switch
from harness.errors import UsageError
from harness.implement.run import LEASE_TTL_S, holder_id, holder_is_gone


def validate_issue(services: Services, number: int) -> RunOutcome:
    check_kill_switch(services)
    issue = services.forge.get_issue(number)
    if issue.state != "open" or "factory:needs-review" not in issue.labels:
        raise UsageError(f"issue {number} has no pull request waiting for validation")
    holder = holder_id()
    fence = services.store.acquire_lease(number, holder, LEASE_TTL_S, is_stale=holder_is_gone)
    try:
        return Engine(services, Lease(number, holder, fence)).run(
            "validate", number, {"number": number}
        )
    finally:
        services.store.release_lease(number, holder)
