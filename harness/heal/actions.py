"""The heal workflow's actions (``workflows/heal.yaml``: diagnose, bisect, act, in code) and
the one step of its revert (``workflows/revert.yaml``) that is not implement's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from harness.artifacts import (
    ON_AN_APP,
    Blame,
    ChangeInputs,
    Diagnosis,
    Healed,
    HealInputs,
    HoldoutRun,
    Probe,
    RevertedChange,
    Worktree,
)
from harness.config.testfiles import clipped, test_files
from harness.engine.actions import action
from harness.engine.context import StepContext
from harness.engine.records import RunRecords
from harness.errors import ErrorKind, StepFailed
from harness.faults import fault_point
from harness.forge.base import Label, file_once, set_state
from harness.git.repo import GitRepo
from harness.heal.checks import failing_checks, probe, public
from harness.implement.actions import checkout
from harness.implement.spec import change_block, forge_spec, triage_spec
from harness.kinds import REVERT, is_revert, regression_key
from harness.validate.calibration import calibration_key
from harness.validate.suite import flakes

HISTORY = 200  # first-parent commits a bisect looks back at, at most
OUTPUT = 4000  # of the tests' output in the red run, kept and shown
DIFF, BODY = 4000, 2000  # of a reverted change's diff and issue body its regression issue holds
Cause = Literal["flaky", "environment", "regression"]  # what made production red
REGRESSION_LABELS = (Label.REGRESSION, "kind:bug", "priority:p1")


@action("heal.diagnose")
def diagnose(ctx: StepContext, inputs: HealInputs) -> Diagnosis:
    """The checks that failed in the red health run, run again on the same commit (the
    tests as the whole suite): a regression is what fails again, a flake what passes."""
    store = ctx.services.store
    run_id = inputs.health_run
    red = RunRecords(store.steps(run_id)).newest(HoldoutRun)
    if red is None:  # set-up, the app or the hold-out failed before any check ran
        why = store.get_run(run_id).reason or "production's health check could not run"
        return Diagnosis(
            sha=inputs.sha, health_run=run_id, verdict="environment", checks=[], reason=why
        )
    checks = failing_checks(red, ctx.services.settings.holdout_dir)
    again = probe(ctx, red.sha, checks, "again")
    known = flakes(store)  # heal's own record of what it found flaky before
    real = [c for c in again.failed if c not in known]
    verdict: Cause = "environment" if again.environment else "regression" if real else "flaky"
    suite = any(not c.startswith(ON_AN_APP) for c in real)  # it failed again
    passed = [] if again.environment else [c for c in checks if c not in real]
    return Diagnosis(
        sha=red.sha,
        health_run=run_id,
        verdict=verdict,
        checks=checks,
        # a test passed only where the whole suite did; a journey, on an app of its own; a
        # check heal recorded flaky is never what a bisect follows
        flaky=[c for c in passed if c.startswith(ON_AN_APP) or not suite or c in known],
        again=again,
        reason=again.environment or f"{len(again.failed)} of {len(checks)} checks fail again",
        output=clipped(red.tests.output, OUTPUT) if red.tests and red.tests.exit_code else "",
    )


class _NotJudged(Exception):
    """A probe could not run its checks (set-up, the app, the browser), or every one failed."""


def first_failing(fails: Callable[[int], bool], size: int, known: int | None) -> tuple[int, int]:
    """(oldest failing, newest passing) positions in a first-parent history of ``size``
    commits, newest first, whose position 0 fails. From a position known to pass: a binary
    search, and that position probed too only when no probe passed (⌈log2 N⌉ + 1 at most);
    from none, or from one that fails now (its record is older than the failure: a check
    that went off later), positions 2b, 4b … behind the oldest failing b first.
    ``_NotJudged``: none passes."""
    bad, good, passed = 0, known, False
    while True:
        while good is None:
            at = min(max(1, 2 * bad), size - 1)
            if at == bad:
                raise _NotJudged("the checks fail on the oldest commit too")
            if fails(at):
                bad = at
            else:
                good, passed = at, True
        while good - bad > 1:
            mid = (bad + good) // 2
            if fails(mid):
                bad = mid
            else:
                good, passed = mid, True
        if passed or not fails(good):
            return bad, good
        bad, good = good, None  # the green end fails now: further back


@action("heal.bisect")
def bisect(ctx: StepContext, diagnose: Diagnosis) -> Blame:
    """The commit that broke the checks still failing, as they behave now: first-parent
    production from the newest commit the health record holds green under this hold-out
    (none, or failing now: looked for further back) to the red one, only those checks run,
    each probe on a fresh worktree and apps — the tests alone by their ids when they fail
    alone on the red commit, else the whole suite each time (a test that passes alone).
    Whose it is comes from the factory's own records of what it landed, never from a
    commit's message."""
    services = ctx.services
    checks = _still(diagnose)
    repo, store, holdout = services.repo, services.store, services.settings.holdout_dir
    history = repo.first_parents(diagnose.sha, HISTORY)
    green = (
        i
        for i, sha in enumerate(history)
        if store.get_flag(calibration_key(repo, sha, holdout, "health"))
    )
    known = next((i for i in green if i > 0), None)
    probes: list[Probe] = []
    tests = [c for c in checks if c.startswith("test:")]
    ids = [t.removeprefix("test:") for t in tests]
    alone = "tests" not in checks and test_files(services.settings.config.commands, ids) is not None
    if alone:  # do they fail alone, by their ids, on the red commit?
        probes.append(probe(ctx, diagnose.sha, tests, "alone", alone=True))
        alone = set(tests) <= set(probes[-1].failed)

    def fails(at: int) -> bool:
        probes.append(probe(ctx, history[at], checks, f"at-{history[at][:12]}", alone))
        fault_point("heal.bisect.probed")  # crash tests: a probe kept, the bisect under way
        if probes[-1].environment:
            raise _NotJudged(probes[-1].environment)
        return not set(probes[-1].failed).isdisjoint(checks)

    blame = Blame(red=diagnose.sha, alone=alone)
    try:
        bad, good = first_failing(fails, len(history), known)
    except _NotJudged:
        return blame.evolve(probes=probes, commits=len(history) - 1)
    landed = store.landed(history[bad])
    merged = None if landed else services.forge.merged_pr(history[bad])  # a runner's forge
    if merged is not None:
        landed = (merged.issue, REVERT if merged.title.startswith("Revert ") else "change")
    kind = "maintainer" if landed is None else REVERT if is_revert(landed[1]) else "factory"
    issue = landed[0] if landed else None
    return blame.evolve(
        green=history[good],
        culprit=history[bad],
        culprit_kind=kind,
        issue=issue,
        commits=good,
        probes=probes,
    )


@action("heal.act")
def act(ctx: StepContext, diagnose: Diagnosis, bisect: Blame | None) -> Healed:
    """In code, from the diagnosis and the bisect: a flake — a check that passed again on the
    same tree — is counted (an issue after ``health.flaky_issue_after``); the environment or
    a culprit the factory did not land goes to a person; the factory's merge is reverted
    (the revert workflow follows) with a regression issue, unless the SafetyGuard stops the
    chain."""
    flaky = diagnose.flaky
    _count_flakes(ctx, flaky, diagnose.sha)
    healed = Healed(outcome="flaky", sha=diagnose.sha, reason=diagnose.reason, flaky=flaky)
    if diagnose.verdict == "flaky":
        return healed
    said = _evidence(ctx, diagnose, bisect)
    if bisect is None or bisect.culprit is None:
        return _environment(ctx, healed, bisect, diagnose.health_run)
    healed = healed.evolve(culprit=bisect.culprit, culprit_issue=bisect.issue)
    if bisect.culprit_kind != "factory" or bisect.issue is None:
        revert = is_revert(bisect.culprit_kind)
        why = "a revert the factory landed" if revert else "a commit the factory did not land"
        title = f"Production is red since {bisect.culprit[:12]}: a person decides"
        body = ctx.services.templates.render("comments/heal_person.md.j2", why=why, **said)
        key, beside = f"heal:person:{bisect.culprit}", (Label.REGRESSION,)
        person = file_once(ctx.services.forge, key, title, body, Label.NEEDS_HUMAN, beside)
        return healed.evolve(outcome="needs_human", reason=why, person_issue=person.number)
    return _regression(ctx, healed, bisect, said)


def _regression(ctx: StepContext, healed: Healed, blame: Blame, said: dict[str, object]) -> Healed:
    """The factory's merge broke production: a regression issue, linked both ways with the
    culprit's issue, reopened; the revert follows, unless the chain of fixes this merge
    belongs to has used ``budgets.max_heal_attempts``: then a person decides."""
    forge, store, render = ctx.services.forge, ctx.services.store, ctx.services.templates.render
    number, culprit = int(str(blame.issue)), str(blame.culprit)
    earlier = store.artifacts(Healed, None, ("succeeded", "running"), limit=1000)
    chain = 1 + max((h.chain for _, h in earlier if h.regression_issue == number), default=0)
    limit = ctx.services.settings.governance.rules.budgets.max_heal_attempts
    stopped = chain > limit
    # the change it reverts, as triage accepted its issue: the title and criteria shown; they,
    # the issue's body and the merge's diff (markup and all) in a signed block, read back by
    # whoever implements this issue
    repo, spec = ctx.services.repo, triage_spec(store, number) or forge_spec(forge, number)
    asked = spec.title if spec else forge.get_issue(number).title
    criteria = spec.acceptance_criteria if spec else []
    files = repo.changed_paths(f"{culprit}^1", culprit)
    diff = repo.diff_text(f"{culprit}^1", culprit, max_bytes=DIFF)
    change = RevertedChange(
        issue=number,
        title=asked,
        body=spec.body[:BODY] if spec else "",
        criteria=criteria,
        files=files,
        diff=diff,
    )
    path = "comments/heal_regression.md.j2"
    body = render(path, chain=chain, limit=limit, stopped=stopped, change=change, **said)
    body += "\n\n" + change_block(forge.markers, change)
    title, key = f"Regression since {culprit[:12]} (#{number})", regression_key(culprit)
    state = Label.NEEDS_HUMAN if stopped else Label.IN_PROGRESS
    issue = file_once(forge, key, title, body, state, REGRESSION_LABELS)
    healed = healed.evolve(regression_issue=issue.number, chain=chain)
    if stopped or {Label.FAILED, Label.NEEDS_HUMAN} & set(issue.labels):  # its revert failed
        why = f"heal attempt {chain} of {limit}" if stopped else "its revert did not land"
        return healed.evolve(outcome="needs_human", reason=why, person_issue=issue.number)
    forge.set_issue_state(number, "open")
    set_state(forge, number, Label.IN_PROGRESS, (Label.REGRESSION,))
    body = render("comments/heal_reopened.md.j2", regression=issue.number, **said)
    forge.post_comment(number, f"heal:reopened:{culprit}", body)
    reason = f"reverting {culprit[:12]} (#{number}); regression issue #{issue.number}"
    return healed.evolve(outcome="reverted", reason=reason)


def _environment(ctx: StepContext, healed: Healed, blame: Blame | None, run_id: str) -> Healed:
    """Set-up, the app, the browser, or checks failing as far back as the bisect looked: one
    issue for a person (the same one each time production is red for such a reason), a
    comment per red commit; no change blamed."""
    red = ctx.services.store.get_run(run_id).reason or "production's health check failed"
    unrun = [p.environment for p in (blame.probes[-1:] if blame else []) if p.environment]
    worded = blame is not None and not unrun  # heal's own words
    why = f"{red}; it fails on every commit the bisect looked at" if worded else healed.reason
    why = unrun[0] if unrun else why
    # the cause as the report knows it (set-up failed on the trusted tree, the app did not start)
    failure = {"step": "heal", "kind": "refused", "error": why}
    render = ctx.services.templates.render
    body = render("comments/health_red.md.j2", failure=failure, run_id=run_id)
    title, forge = "Production is red: the factory has stopped", ctx.services.forge
    issue = file_once(forge, "heal:environment", title, body, Label.NEEDS_HUMAN)
    forge.post_comment(issue.number, f"health:red:{healed.sha}", body)
    return healed.evolve(outcome="environment", reason=why, person_issue=issue.number)


def _still(diagnosed: Diagnosis) -> list[str]:
    """The checks that failed again on the red commit, but those heal recorded flaky."""
    failed = diagnosed.again.failed if diagnosed.again else []
    return [c for c in failed if c not in diagnosed.flaky]


def _count_flakes(ctx: StepContext, flaky: list[str], sha: str) -> None:
    """Each check in ``flaky`` counts one flake; after ``health.flaky_issue_after`` of one
    check, one issue for a person (never a second), naming a hidden journey by digest."""
    after, templates = ctx.services.settings.config.health.flaky_issue_after, ctx.services.templates
    history = flakes(ctx.services.store) if flaky else {}
    for check in flaky:
        seen = [*history.get(check, []), (ctx.run_id, sha)]
        if len(seen) < after:
            continue
        runs = [{"run": run, "sha": sha} for run, sha in seen]
        shown = public(check)
        body = templates.render("comments/heal_flaky.md.j2", check=shown, flakes=runs)
        key, title = f"heal:flaky:{shown}", f"Flaky check: {shown}"
        file_once(ctx.services.forge, key, title, body, Label.NEEDS_HUMAN, reopen=False)


def _evidence(ctx: StepContext, diagnosed: Diagnosis, blame: Blame | None) -> dict[str, object]:
    """What every issue and comment of a heal shows: the failing tests by id, hidden journeys
    by count alone, the bisect's log and culprit, the tests' output."""
    test = ctx.services.settings.config.commands.test
    still = _still(diagnosed)
    blame = blame or Blame(red=diagnosed.sha)
    return {
        **blame.model_dump(),
        "tests": [test if c == "tests" else c[5:] for c in still if c.startswith("test")],
        "journeys": [public(c) for c in still if c.startswith(ON_AN_APP)],
        "output": diagnosed.output,
        "run_id": diagnosed.health_run,
    }


@action("heal.undo")
def undo(ctx: StepContext, inputs: ChangeInputs, worktree: Worktree) -> dict[str, object]:
    """The culprit merge undone on production in the run's checkout: one commit whose
    message says what it reverts (``git revert``'s words, which earned trust reads)."""
    culprit = str(inputs.culprit)
    repo = ctx.services.repo
    message = f"Revert {culprit[:12]} for issue {ctx.number}\n\nThis reverts commit {culprit}.\n"
    undone = repo.revert_commit(culprit, message)  # on the culprit: its first parent's tree
    head, conflicts = repo.conflicted_commit(worktree.base_sha, undone, message)
    if conflicts:
        raise StepFailed(
            f"the revert of {culprit[:12]} conflicts with later changes in "
            f"{', '.join(conflicts[:3])}: a person reverts it",
            {"conflicts": conflicts},
            ErrorKind.GATE,
        )
    GitRepo(checkout(ctx, worktree)).move_to(head)
    return {"culprit": culprit, "head": head}
