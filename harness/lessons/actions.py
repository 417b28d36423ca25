"""The ``lessons`` workflow's actions: pick a lesson, commit the learner's edit on a branch
named after its citations (a resumed run finds its own), rehearse it, open its pull request.
The edit is checked in code (``edited``: lines added to factory_rules.md's lessons section,
nowhere else). The factory never merges it: the governance files are protected paths,
refused by every gate."""

from __future__ import annotations

import re

from harness import cpu
from harness.artifacts import (
    ANY_RUN,
    GovernanceEdit,
    Healed,
    Lesson,
    LessonBranch,
    Proposal,
    Rehearsal,
)
from harness.backtest.cases import history_cases
from harness.config.governance import LESSONS, split_lessons
from harness.config.models import GOVERNANCE_FILES
from harness.digest import sha256
from harness.engine.actions import action
from harness.engine.context import Services, StepContext
from harness.errors import StepFailed
from harness.forge.neutral import clip
from harness.git import snapshot
from harness.lessons.evidence import lessons, picks
from harness.review.change import diff_of

MAX_EDIT_LINES = 30
# a lesson's line: a rule, as plain text in a list item (never markup that hides or forges
# text: an HTML tag or comment, a fence, a link definition such as ``[//]: #``, a heading,
# indented code); ``str.isprintable`` refuses bidi, invisible and control characters
PLAIN = re.compile(r"- (?![\s#])(?!.*(?:<[!/?a-z]|-->|```|~~~|\[[^\]]*\]:)).+", re.IGNORECASE)
KEPT = ("id", "issue", "triage", "route", "resolved", "changed")  # of a rehearsed case's row
SUMMARY = ("resolved", "would_merge", "false_merges", "missed", "cost_usd")


@action("lessons.pick")
def pick(ctx: StepContext) -> Lesson | dict[str, object]:
    """The lesson whose turn it is among those that may be proposed now, or ``about: None``
    (nothing to do): causes take turns by weight — their independent evidence, over one
    plus the times a run picked them before — the most cited first among equals."""
    nothing: dict[str, object] = {"about": None}
    found = [x for x in lessons(ctx.services) if x.proposable]
    asked = [refs for refs, _ in picks(ctx.services)]

    def turn(lesson: Lesson) -> float:
        refs = {c.ref for c in lesson.citations}
        return lesson.independent / (1 + sum(not refs.isdisjoint(p) for p in asked))

    return max(found, key=turn, default=nothing)


def edited(text: str, edit: GovernanceEdit) -> str:
    """The file with the edit made (``StepFailed``: refused, and why). A lesson only adds, and
    only to the lessons section of factory_rules.md (``split_lessons``; made under its heading
    at the end of the file when it has none): never CLAUDE.md, never a line above that
    section, none of the section's lines taken away, each line it adds a plain rule
    (``PLAIN``: nothing hidden from a reader or forged); at most 30 lines, its ``old_text``
    found once."""
    rules, section = split_lessons(text)
    if edit.old_text:
        new = text.replace(edit.old_text, edit.new_text, 1)
    else:  # at the end of the file: of its lessons section
        heading = "" if section else f"\n\n{LESSONS}"
        new = f"{text.rstrip()}{heading}\n\n{edit.new_text.strip()}\n"
    above, below = split_lessons(new)
    lines = below.splitlines()
    added = set(lines[1:]) - set(section.splitlines())
    hidden = [x for x in added if x and not (PLAIN.fullmatch(x) and x.isprintable())]
    gone = set(section.splitlines()) - set(lines)
    why = None
    if edit.file != GOVERNANCE_FILES[1]:
        why = f"a lesson never edits {edit.file}; it adds lines to the lessons of factory_rules.md"
    elif len(edit.old_text.splitlines()) + len(edit.new_text.splitlines()) > MAX_EDIT_LINES:
        why = f"over {MAX_EDIT_LINES} lines; a lesson is a small edit"
    elif edit.old_text and text.count(edit.old_text) != 1:
        why = f"old_text is not found exactly once in {edit.file}"
    elif new == text:
        why = "it changes nothing"
    elif above.rstrip() != rules.rstrip():
        why = "it edits factory_rules.md above its lessons section: a lesson never edits a rule"
    elif gone:
        why = f"it deletes the lesson {min(gone)!r}"
    elif hidden:
        why = (
            f"it adds a line that is not a plain rule: {min(hidden)!r} (a lesson adds '- ' and "
            "plain text: no HTML, comment, fence, link definition, heading, indented code, "
            "bidi or invisible character)"
        )
    if why is not None:
        raise StepFailed(f"the learner's edit is refused: {why}", {})
    return new


@action("lessons.branch")
def branch(ctx: StepContext, pick: Lesson, edit: GovernanceEdit) -> LessonBranch:
    """The edit committed on production's governance commit, on the lesson's own branch."""
    repo = ctx.services.repo
    base = ctx.services.settings.governance.commit
    live = sorted(c.ref for c in pick.citations if c.stale is None)
    name = f"factory/lesson-{sha256(repr(live))[:12]}"
    head = repo.rev_parse(f"refs/heads/{name}")  # made before a kill: the same branch
    if head is None:
        text = (repo.read_blob(base, edit.file) or b"").decode("utf-8")
        mode = snapshot.file_modes(repo, base, [edit.file]).get(edit.file, "100644")
        files = {str(edit.file): (mode, edited(text, edit).encode())}
        message = f"{edit.title}\n\nA lesson of the factory ({pick.about}); see its PR."
        head = snapshot.commit_over(repo, base, files, [], message)
        snapshot.set_ref(repo, f"refs/heads/{name}", head)
    return LessonBranch(branch=name, head=head)


def _cases(services: Services, lesson: Lesson) -> tuple[int, ...]:
    """Every fixed issue the lesson's cause touches, newest first: one it cites, or whose fix
    changed a file it names. A merge heal reverted fixed nothing."""
    healed = services.store.artifacts(Healed, None, ANY_RUN, 1000)
    reverted = {h.culprit for _, h in healed if h.outcome == "reverted"}
    cited = {c.issue for c in lesson.citations}
    files = {c.file for c in lesson.citations if c.file}
    touched = [
        c.issue
        for c in history_cases(services)
        if c.fix not in reverted
        and (c.issue in cited or not files.isdisjoint(services.repo.changed_paths(c.base, c.fix)))
    ]
    return tuple(n for n in dict.fromkeys(touched) if n is not None)


@action("lessons.rehearse")
def rehearse(ctx: StepContext, pick: Lesson, branch: LessonBranch) -> Rehearsal:
    """``factory backtest`` on production's governance, then on the branch's (whose rows say
    what ``changed``), within what is left of ``lessons.max_usd``; resumed where it stopped."""
    from harness.backtest.report import BacktestReport
    from harness.backtest.runner import Request, run_backtest

    services = ctx.services
    rules = services.settings.governance.rules.lessons
    issues = _cases(services, pick)
    left = rules.max_usd - services.store.spend(run_id=ctx.run_id)
    provider = services.settings.config.provider.type  # as this run was given it
    reports: list[BacktestReport] = []
    with cpu.waiting():  # the rehearsal's runs hold CPU slots of their own
        for governance in (None, branch.head) if issues else ():
            cap = ("lessons.max_usd", left - sum(r.summary.cost_usd for r in reports))
            request = Request(issues=issues, governance=governance, provider=provider, cap=cap)
            reports.append(run_backtest(services.repo.path, services.settings.state_dir, request))
            if reports[-1].stopped:
                break
    return Rehearsal(
        backtests=[r.backtest for r in reports],
        cases=[{k: getattr(row, k) for k in KEPT} for row in reports[-1].cases] if reports else [],
        before=reports[0].summary.model_dump(include=set(SUMMARY)) if reports else {},
        after=reports[-1].summary.model_dump(include=set(SUMMARY)) if len(reports) > 1 else {},
        stopped=next((r.stopped for r in reports if r.stopped), None),
        few=f"{len(issues)} past cases touch this cause; lessons.cases asks for {rules.cases}"
        if len(issues) < rules.cases
        else None,
    )


@action("lessons.open_pr")
def open_pr(
    ctx: StepContext, pick: Lesson, edit: GovernanceEdit, branch: LessonBranch, rehearse: Rehearsal
) -> Proposal:
    """The pull request of the edit (its diff first), its evidence and its rehearsal (once per
    branch)."""
    services = ctx.services
    proposal = Proposal(
        about=pick.about,
        cited=[c.ref for c in pick.citations if c.stale is None],
        branch=branch.branch,
        pr=0,  # until it is opened
        rehearsal=rehearse,
        base=services.repo.rev_parse(f"{branch.head}^1") or "",
        head=branch.head,
    )
    body = services.templates.render(
        "comments/lesson_pr.md.j2",
        lesson=pick.model_dump(),
        edit=edit.model_dump(),
        diff=diff_of(services.repo, proposal).text,
        proposal=proposal.model_dump(),
    )
    title = f"{edit.file}: {clip(edit.title, 100)} (a lesson)"
    production = services.settings.config.production_branch
    pr = services.forge.open_pr(0, proposal.branch, production, title, body)
    return proposal.evolve(pr=pr.number)
