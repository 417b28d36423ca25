"""A person's decision on an issue the factory handed over: approve or reject (docs/trust.md
says what each does); every decision is an event, with who made it, in the audit trail."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from harness.artifacts import ANY_RUN, Landing, PrCandidate, Smoke, Validation
from harness.engine.context import Services
from harness.engine.killswitch import CANCEL
from harness.errors import UsageError, check_one_line
from harness.forge.base import Issue, Label, PullRequest, default_author, set_state
from harness.forge.neutral import clip
from harness.retry import cancel_issue, retry_issue, stop_runs
from harness.review.trust import APPROVE_EVENT

REJECT_EVENT = "human.reject"
REVIEWABLE = (Label.NEEDS_REVIEW, Label.NEEDS_HUMAN)
MAX_REASON = 2000


@dataclass(frozen=True)
class Decision:
    """What a person decided and what came of it (merged, not_merged, requeued, rejected,
    cancelled); ``factory approve --json`` and ``factory reject --json`` print its fields."""

    number: int
    action: str
    actor: str
    outcome: str
    message: str


def default_actor() -> str:
    """``$FACTORY_ACTOR``, else the OS user name."""
    return os.environ.get("FACTORY_ACTOR", "").strip() or default_author("unknown")


def check_actor(actor: str, option: str = "--by") -> str:
    """A login as given by ``option`` (a decision's actor, a new issue's author), stripped."""
    actor = actor.strip()
    if not actor or len(actor) > 100 or any(c.isspace() or not c.isprintable() for c in actor):
        raise UsageError(f"{option}: one word (a login) of at most 100 printable characters")
    return actor


def waiting_for(issue: Issue) -> str | None:
    """The review label an open issue waits for a person under (None: it waits for none)."""
    held = [label for label in REVIEWABLE if label in issue.labels]
    return held[0] if held and issue.state == "open" else None


def waiting_label(services: Services, number: int, action: str) -> str:
    """The review label the issue holds; anything else is a usage error (exit 2)."""
    issue = services.forge.get_issue(number)
    label = waiting_for(issue)
    if label is None:
        raise UsageError(
            f"issue {number} is not waiting for a person (it is {issue.state}, labels: "
            f"{', '.join(issue.labels) or 'none'}); only {' or '.join(REVIEWABLE)} issues can be "
            f"{action.removesuffix('e')}ed"
        )
    return label


def open_pr(services: Services, number: int) -> PullRequest | None:
    """The factory's open pull request for the issue (the ``PrCandidate`` of any of its
    runs, whatever became of the run), if any."""
    for _, candidate in services.store.artifacts(PrCandidate, number, ANY_RUN, limit=50):
        pr = services.forge.find_pr(candidate.branch)
        if pr is not None and pr.state == "open":
            return pr
    return None


def decide(
    services: Services,
    action: str,
    number: int,
    actor: str | None,
    reason: str = "",
    via: str = "",
    say: Callable[[str], None] = lambda _: None,
    provider: str | None = None,
) -> Decision:
    """A person's ``approve``, ``reject`` or ``cancel`` of issue ``number``, whichever face
    it came through: ``actor``, a login (None: ``default_actor``); ``reason``, one line;
    ``via``, the face, when not the command line (``mcp``); ``say`` and ``provider``:
    approve's."""
    actor = check_actor(default_actor() if actor is None else actor)
    check_one_line("--reason", reason)
    reason = reason.strip()
    if action == "cancel":
        said = cancel_issue(services, number, actor, reason, via)
        return Decision(number, action, actor, "cancelled", said)
    if action == "reject":
        return reject(services, number, reason, actor, via)
    return approve(services, number, actor, via, reason, say, provider)


def approve(
    services: Services,
    number: int,
    actor: str,
    via: str,
    reason: str,
    say: Callable[[str], None],
    provider: str | None,
) -> Decision:
    """Approve issue ``number``'s change: land it through validation, or re-queue it.
    ``reason``: why, kept in the audit trail (a lesson may cite it), never posted; ``say``:
    told when validation starts (the command line's live line); ``provider``: the face's
    override, the model validation calls (it must be ready before anything is recorded)."""
    from harness.model.provider import require_model
    from harness.validate.run import landing_unfinished, validate_issue  # the engine

    landing_unfinished(services, number, "approve")
    label = waiting_label(services, number, "approve")
    store = services.store
    told = ({"via": via} if via else {}) | ({"reason": reason[:MAX_REASON]} if reason else {})
    event = {"issue": number, "actor": actor, "label": label} | told
    if label != Label.NEEDS_REVIEW:  # handed to a person by triage or an attempt: requeued
        store.append_event(None, APPROVE_EVENT, event | {"head": None})
        said = retry_issue(services, number)
        return Decision(number, "approve", actor, "requeued", f"approved by {actor}: {said}")
    require_model(services.settings, provider)  # validation runs again
    pr = open_pr(services, number)
    if pr is None:
        raise UsageError(
            f"issue {number} waits for review but has no open pull request from the factory"
        )
    head = services.forge.sync(pr.branch)  # on GitHub: what the PR holds now
    store.append_event(None, APPROVE_EVENT, event | {"pr": pr.number, "head": head})
    say(f"issue {number}: validating PR {pr.number} again; it lands through the merge queue …")
    outcome = validate_issue(services, number)
    by = f"approved by {actor}"
    decided = outcome.artifact(Validation)
    landing = outcome.artifact(Landing)
    smoke = outcome.artifact(Smoke)
    merged = landing.merge_sha if landing else None
    reverted = smoke.reverted if smoke else None
    if merged and not reverted:
        said = f"landed as {merged[:12]} (the tested tree; run {outcome.run_id})"
        return Decision(number, "approve", actor, "merged", f"issue {number}: {by}; {said}")
    why = (
        f"merged as {merged[:12]} but the smoke run failed: reverted as {str(reverted)[:12]}"
        if merged
        else ((decided.reason if decided else None) or outcome.reason or outcome.status)
    )
    route = decided.route if decided else outcome.status
    said = f"but not merged (route {route}): {why} (run {outcome.run_id})"
    return Decision(number, "approve", actor, "not_merged", f"issue {number}: {by} {said}")


def reject(services: Services, number: int, reason: str, actor: str, via: str) -> Decision:
    """Close issue ``number`` and its open PR with one comment, labelled factory:rejected; a
    validation of it under way is stopped first (``stop_runs``)."""
    if not reason:
        raise UsageError("--reason: say why (it is posted on the issue)")
    if len(reason) > MAX_REASON:
        raise UsageError(f"--reason: at most {MAX_REASON} characters")
    from harness.validate.run import landing_unfinished

    landing_unfinished(services, number, "reject")
    forge = services.forge
    store = services.store
    done = store.events(kind=REJECT_EVENT, issue=number)
    issue = forge.get_issue(number)
    pr = open_pr(services, number)
    if done and issue.state == "open" and Label.REJECTED in issue.labels:
        # a rejection interrupted after its labels: finished as it was recorded
        actor = str(done[-1].data["actor"])
        reason = str(done[-1].data["reason"])
    else:
        label = waiting_label(services, number, "reject")
        event = {"issue": number, "actor": actor, "label": label, "reason": reason}
        event |= {"via": via} if via else {}
        store.append_event(None, REJECT_EVENT, {**event, "pr": pr.number if pr else None})
        done = store.events(kind=REJECT_EVENT, issue=number)
    # a validation of it under way ends first, without a merge (its checks released)
    stop_runs(services, number, f"rejected by {actor}")
    # labels first, then the comment, keyed by the rejection: one done again after a kill
    # finishes what the first began and never posts a second comment
    set_state(forge, number, Label.REJECTED)
    forge.remove_labels(number, [Label.REGRESSION])  # a rejection ends that story too
    if pr is not None:
        forge.close_pr(pr.number)
    body = services.templates.render(
        "comments/rejected.md.j2",
        actor=actor,
        reason=clip(reason, MAX_REASON),
        pr=pr.number if pr else None,
    )
    forge.post_comment(number, f"reject:{len(done)}", body)
    forge.close_issue(number)
    store.clear_flag(f"{CANCEL}{number}")  # its runs are over: nothing more to stop
    said = f"issue {number}{f' and pull request {pr.number}' if pr else ''} closed"
    return Decision(number, "reject", actor, "rejected", f"{said}: rejected by {actor}")
