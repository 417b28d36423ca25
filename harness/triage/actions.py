"""The triage workflow's actions: ``triage.prescreen``, ``triage.context`` (what the agent is
shown of the repository and of the validator) and ``triage.apply`` (the applier), and the
``ack`` workflow's ``triage.ack``."""

from __future__ import annotations

from types import MappingProxyType

from harness.artifacts import AckInputs, Acknowledgement, IssueSpec, Judgement, Screened
from harness.engine.actions import action
from harness.engine.budget import start_of_day
from harness.engine.context import StepContext
from harness.engine.definition import load_sealed
from harness.engine.records import Produced
from harness.errors import FactoryError
from harness.forge.base import STATE_LABELS, Issue, Label, own_text, set_state
from harness.forge.neutral import clip
from harness.implement.spec import spec_block
from harness.model.tools import tool_defs
from harness.review.trust import APPROVE_EVENT
from harness.triage.prescreen import prescreen, template_comments
from harness.triage.repomap import map_rules, repository_map

# decision -> its state label and the comment's headline
DECISIONS = MappingProxyType(
    {
        "accept": (Label.ACCEPTED, "Accepted"),
        "reject": (Label.REJECTED, "Rejected"),
        "needs_info": (Label.NEEDS_INFO, "Needs more information"),
        "needs_human": (Label.NEEDS_HUMAN, "Needs a maintainer"),
        "deferred": (Label.DEFERRED, "Deferred"),
    }
)


def judged_today(ctx: StepContext, issue: Issue) -> int | None:
    """How many of the issue's author's issues went to the triage agent since UTC midnight
    (the store answers: the author as each run's pre-screen read it, not the forge); None
    where the daily limit does not apply: a trusted author (``Settings.trusts``), the
    factory's own issues (its audit's, its heal's: never a person's quota), an issue a
    person acted on (re-queued it with ``factory retry``, approved it)."""
    services = ctx.services
    if services.settings.trusts(issue.author) or services.forge.is_own(issue.author):
        return None
    if {"human.retry", APPROVE_EVENT} & {e.kind for e in services.store.events(issue=issue.number)}:
        return None
    since = start_of_day(services.clock())
    return services.store.judged_since(since, issue.author, other_than=ctx.issue)


@action("triage.prescreen")
def prescreen_action(ctx: StepContext) -> Screened:
    forge = ctx.services.forge
    issue = forge.get_issue(ctx.number)
    others = [i for i in forge.list_issues(state="all") if i.number != issue.number]
    services = ctx.services
    rules = services.settings.governance.rules
    templates = template_comments(services.repo, services.settings.governance.commit)
    own = own_text(forge, issue)
    screen = prescreen(issue, others, rules, judged_today(ctx, issue), templates, own)
    return screen.evolve(author=issue.author)


@action("triage.context")
def context(ctx: StepContext) -> dict[str, object]:
    """What the triage agent is shown besides the issue: the map of the repository at the
    production commit the governance was read from (made once per commit and kept in the
    store), and what the sealed validator can observe — its browser tools as its definition
    gives them — so that each acceptance criterion is one it can check."""
    services = ctx.services
    commit = services.settings.governance.commit
    rules, digest = map_rules()
    key = f"triage-map:{commit}:{digest}"
    text = services.store.get_flag(key)
    if text is None:
        text = repository_map(services.repo, commit, rules)
        services.store.set_flag(key, text)
    tools = load_sealed(services).tools
    observable = [{"name": t["name"], "does": t["description"]} for t in tool_defs(list(tools))]
    return {"commit": commit, "map": text, "observable": observable}


def _decision(number: int, pre: Screened, judged: Judgement | None) -> IssueSpec:
    """The issue as triage decided it: the pre-screen's decision, else the agent's."""
    issue = IssueSpec(
        number=number,
        title=pre.title,
        body=pre.body,
        issue_sha256=pre.issue_sha256,
        decision=pre.decision or "",
        reason=pre.reason,
        rule=pre.rule,
        source="prescreen",
    )
    if pre.decision:
        return issue
    if judged is None:
        raise FactoryError("no triage decision: the judge step produced nothing")
    # a criterion the app under validation cannot show: a person checks the issue, now
    unseen = [
        clip(f"{item.criterion} (lacks {item.lacks})", limit=800) for item in judged.unobservable
    ]
    return issue.evolve(
        decision="needs_human" if unseen and judged.decision == "accept" else judged.decision,
        unobservable=unseen,
        reason=clip(judged.reason),
        rule=clip(judged.rule or "mission.md", limit=200),
        priority=judged.priority,
        kind=judged.kind,
        acceptance_criteria=[clip(c, limit=500) for c in judged.acceptance_criteria],
        source="agent",
    )


def state_labels(spec: IssueSpec) -> list[str]:
    """The labels a triage decision puts on its issue: its state, and for an accepted one its
    priority and kind beside it."""
    labels = [DECISIONS[spec.decision][0]]
    if spec.decision == "accept":
        labels += [f"priority:{spec.priority}", f"kind:{spec.kind}"]
    return labels


@action("triage.apply")
def apply_action(
    ctx: StepContext, prescreen: Screened, judge: Judgement | None
) -> Produced[IssueSpec]:
    """Labels and one comment, computed in code from the structured decision (a rejected
    issue closed after its comment). Safe to repeat."""
    forge = ctx.services.forge
    now = ctx.services.clock()
    spec = _decision(ctx.number, prescreen, judge)
    decision = spec.decision
    headline = DECISIONS[decision][1]
    labels = state_labels(spec)
    set_state(forge, ctx.number, labels[0], tuple(labels[1:]))
    day = start_of_day(now)[:10]  # the UTC date
    key = f"triage:{decision}" + (f":{day}" if decision == "deferred" else "")
    body = ctx.services.templates.render(
        "comments/triage.md.j2", headline=headline, issue=ctx.number, **spec.model_dump()
    )
    if decision == "accept":
        body += "\n\n" + spec_block(ctx.services.forge.markers, spec)  # a block of its own
    comment = forge.post_comment(ctx.number, key, body)
    if decision == "reject":  # the comment says why; nothing is left to do on it
        forge.set_issue_state(ctx.number, "closed")
    return Produced(spec, {"labels": labels, "comment_id": comment.id, "comment_key": key})


@action("triage.ack")
def ack_action(ctx: StepContext, inputs: AckInputs, prescreen: Screened) -> Acknowledgement:
    """One comment on a new issue: received, and when triage will judge it, or why the
    pre-screen holds it. Never twice (the comment's marker), never on an issue triage has
    decided or the factory opened itself; no label. The issue's text is never quoted."""
    forge = ctx.services.forge
    issue = forge.get_issue(ctx.number)
    if forge.is_own(issue.author):
        return Acknowledgement(posted=False, why="opened by the factory itself")
    if any(label in STATE_LABELS for label in issue.labels):
        return Acknowledgement(posted=False, why="already triaged")
    held = {"decision": prescreen.decision, "reason": prescreen.reason, "rule": prescreen.rule}
    when = inputs.triage_at or "at its next triage run"
    body = ctx.services.templates.render("comments/ack.md.j2", triage_at=when, **held)
    comment = forge.post_comment(ctx.number, "ack", body)
    return Acknowledgement(posted=True, comment_id=comment.id, held=prescreen.decision)
