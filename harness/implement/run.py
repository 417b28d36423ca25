"""``factory implement N``: run (or resume) the implement workflow, under the issue's lease."""

from __future__ import annotations

from functools import partial

from harness.artifacts import ChangeInputs
from harness.engine.context import Services
from harness.engine.killswitch import check_kill_switch
from harness.engine.runner import Engine, RunOutcome
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
    """An attempt left unfinished is resumed as it was; a new one needs the issue ready."""
    check_kill_switch(services)
    issue = services.forge.get_issue(number)
    if issue.state != "open":
        raise UsageError(f"issue {number} is not an open issue accepted by triage")
    ready = partial(_check_ready, services, issue)
    return Engine(services).run("implement", number, ChangeInputs(number=number), fresh=ready)
