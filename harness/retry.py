"""``factory retry N``: put a failed, needs-human or deferred issue back in the queue, with one
comment; and ``factory cancel N``, a person stopping the factory's work on an issue, which
``factory retry N`` takes back.

An accepted issue goes back to implementation (its triage decision stands); one that triage
itself handed to a person, or deferred, is triaged again (a person's retry lifts the daily
author limit for it: ``triage.actions.judged_today``). Labels change first, then the
comment: a retry interrupted between the two is not repeated (the issue is no longer
failed), so an issue never gets two comments for one retry."""

from __future__ import annotations

import time

from harness.engine.context import Services
from harness.engine.killswitch import CANCEL
from harness.errors import LeaseError, UsageError
from harness.forge.base import Label, queue_state, set_state
from harness.implement.spec import forge_spec, triage_spec
from harness.store.outcomes import CANCELLED

RETRYABLE = (Label.FAILED, Label.NEEDS_HUMAN, Label.DEFERRED)


def retry_issue(services: Services, number: int) -> str:
    """Re-queue issue ``number``; what happens next, in one line."""
    from harness.validate.run import landing_unfinished  # the engine, only when needed

    landing_unfinished(services, number, "retry")
    services.store.clear_flag(f"{CANCEL}{number}")  # a person's cancel is taken back
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


CANCELLABLE = (Label.ACCEPTED, Label.IN_PROGRESS, Label.DEFERRED)
CANCEL_WAIT_S = 120.0  # for a run alive in another process to stop (within half a second)
STOPPED = ("implement", "validate")  # the workflows of an issue a person's stop ends


def stop_runs(services: Services, number: int, why: str) -> None:
    """Stop the factory's work on issue ``number`` for a person, ``why`` said: a run of it
    alive in any process told to stop (the flag its engine, its sandboxed commands and its
    model calls ask: it ends itself, its checkout removed), then every unfinished run ended
    and its checkout removed, under the issue's lease once that run gave it back."""
    from harness.engine.runner import Engine

    store = services.store
    store.set_flag(f"{CANCEL}{number}", why)  # a live run of it stops within half a second
    deadline = time.monotonic() + CANCEL_WAIT_S
    while True:
        try:
            with store.held(number):
                Engine(services).end_open(number, why, STOPPED)
                return
        except LeaseError as exc:  # its run, alive in another process, is stopping
            if time.monotonic() > deadline:
                raise LeaseError(
                    f"{exc}: it has not stopped yet; run 'factory cancel {number}' again"
                ) from exc
            time.sleep(0.2)


def cancel_issue(services: Services, number: int, actor: str, reason: str, via: str) -> str:
    """Stop the factory's work on issue ``number`` (accepted, in progress, deferred, or its
    change being validated) for a person: recorded (``human.cancel``: who, why), its runs
    stopped (``stop_runs``), the issue handed to a person with one comment. Done again, an
    interrupted cancel is finished; ``retry_issue`` takes it back. What happened, in one
    line."""
    store, forge = services.store, services.forge
    issue = forge.get_issue(number)
    flagged = store.get_flag(f"{CANCEL}{number}")
    working = store.lease_holder(number)  # a run of it, implementing or validating
    if issue.state != "open" or not (queue_state(issue) in CANCELLABLE or working or flagged):
        raise UsageError(
            f"issue {number} is not accepted, in progress or being validated (it is "
            f"{queue_state(issue)}); nothing to cancel ('factory reject' closes an issue "
            "that waits for a person)"
        )
    why = f"{CANCELLED}{actor}" + (f": {reason}" if reason else "")
    if flagged is None:
        event = {"issue": number, "actor": actor, "reason": reason, "via": via or None}
        store.append_event(None, "human.cancel", event)
    stop_runs(services, number, why)
    set_state(forge, number, Label.NEEDS_HUMAN)
    body = services.templates.render("comments/cancelled.md.j2", actor=actor, reason=reason)
    forge.post_comment(
        number, f"cancel:{len(store.events(kind='human.cancel', issue=number))}", body
    )
    return f"issue {number}: {why}; its runs ended; 'factory retry {number}' takes it back"
