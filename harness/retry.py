"""``factory retry N``: put a failed, needs-human or deferred issue back in the queue, with one
comment.

An accepted issue goes back to implementation (its triage decision stands); one that triage
itself handed to a person, or deferred, is triaged again (a person's retry lifts the daily
author limit for it: ``triage.actions.judged_today``). Labels change first, then the
comment: a retry interrupted between the two is not repeated (the issue is no longer
failed), so an issue never gets two comments for one retry."""

from __future__ import annotations

from harness.engine.context import Services
from harness.errors import UsageError
from harness.forge.base import Label, set_state
from harness.implement.spec import forge_spec, triage_spec

RETRYABLE = (Label.FAILED, Label.NEEDS_HUMAN, Label.DEFERRED)


def retry_issue(services: Services, number: int) -> str:
    """Re-queue issue ``number``; what happens next, in one line."""
    from harness.validate.run import landing_unfinished  # the engine, only when needed

    landing_unfinished(services, number, "retry")
    forge = services.forge
    issue = forge.get_issue(number)
    held = [label for label in RETRYABLE if label in issue.labels]
    if issue.state != "open" or not held:
        raise UsageError(
            f"issue {number} is not an open failed, needs-human or deferred issue "
            f"(labels: {', '.join(issue.labels) or 'none'}); nothing to retry"
        )
    # a terminal label replaced factory:accepted; triage's decision is what still stands
    spec = triage_spec(services.store, number) or forge_spec(forge, number)
    accepted = Label.ACCEPTED in issue.labels or bool(spec and spec.decision == "accept")
    set_state(forge, number, Label.ACCEPTED if accepted else None)
    was = " and ".join(label.removeprefix("factory:") for label in held)
    body = services.templates.render("comments/retry.md.j2", was=was, accepted=accepted)
    key = next(
        f"retry:{n}" for n in range(1, 10_000) if forge.find_comment(number, f"retry:{n}") is None
    )
    forge.post_comment(number, key, body)
    queued = "implementation" if accepted else "triage"
    return f"issue {number}: was {was}; queued for {queued}"
