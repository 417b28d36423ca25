"""``factory implement N``: claim the issue, then run (or resume) the implement workflow."""

from __future__ import annotations

from harness.artifacts import ChangeInputs
from harness.engine.context import Services
from harness.engine.runner import RunOutcome, check_kill_switch, run_leased
from harness.errors import UsageError
from harness.forge.base import Issue, Label, Queued


def waits_for_approval(services: Services, issue: Issue | Queued) -> bool:
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
    return run_leased(services, "implement", number, ChangeInputs(number=number))
