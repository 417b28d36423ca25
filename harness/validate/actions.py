"""The validate workflow's actions up to the decision: calibrate, check, apply the route
(decided in ``harness.validate.route``; merging and smoke are in ``harness.validate.merge``)."""

from __future__ import annotations

import contextlib
import json
import time
from itertools import takewhile
from types import MappingProxyType

from harness.artifacts import (
    ANY_RUN,
    Baseline,
    CheckResult,
    Failed,
    Health,
    HoldoutRun,
    KeptVerdict,
    PrCandidate,
    Prepared,
    Routing,
    Validation,
    ValidationTarget,
    ValidatorRun,
    Verdict,
)
from harness.config.testfiles import clipped
from harness.cpu import waiting
from harness.engine.actions import action
from harness.engine.context import Services, StepContext
from harness.engine.killswitch import check_kill_switch
from harness.engine.records import Produced
from harness.errors import FactoryError, GitError, StepFailed
from harness.forge.base import Label, set_state
from harness.forge.neutral import clip
from harness.git import shape
from harness.git.repo import GitRepo
from harness.globs import matching
from harness.kinds import is_revert
from harness.review.trust import kind_of, review_gate, trusted_setup
from harness.validate import landing, proof
from harness.validate.calibration import (
    cached_or_computed,
    calibration_key,
    green_now,
    holdout_digest,
    record_calibration,
)
from harness.validate.evidence import Before, EarlierVerdict, journeys_on, tree_of
from harness.validate.route import decide_route, setup_code_seen
from harness.validate.sealed import ValidatorQuestion
from harness.validate.suite import flakes


def production_tip(ctx: StepContext) -> tuple[str, str]:
    branch = ctx.services.settings.config.production_branch
    return branch, ctx.services.forge.sync(branch)  # on GitHub: fetched first


@action("validate.prepare", consumes=(PrCandidate,))
def prepare(ctx: StepContext) -> Produced[ValidationTarget]:
    """The PR to validate and what implement proved about it: the newest ``PrCandidate``
    for this issue whose pull request is still open (kept whole: see ``Prepared``)."""
    for _, candidate in ctx.services.store.artifacts(PrCandidate, ctx.number):
        pr = ctx.services.forge.find_pr(candidate.branch)
        if pr is None or pr.state != "open":
            continue
        head = ctx.services.forge.sync(pr.branch)  # on GitHub: what the PR holds now
        target = ValidationTarget(implement_run=candidate.implement_run, pr=pr.number, head=head)
        return Produced(target, {"candidate": candidate.model_dump(mode="json")})
    raise FactoryError(f"issue {ctx.number} has no open pull request from the factory")


@action("validate.ci")
def ci(ctx: StepContext, prepare: Prepared) -> dict[str, object]:
    """CI still running on the PR head is waited for (bounded) before anything is spent on
    journeys and the validator: a gate read too early would send a good change to a person.
    The wait counts from the first look at this head, across kills and resumes."""
    services = ctx.services
    if not services.settings.governance.rules.auto_merge.require_ci:
        return {"state": "not required", "waited_s": 0.0}
    head = prepare.head
    cfg = services.settings.config.validation
    first: float | None = None  # when this head was first seen pending (kept in the store)
    while True:
        state = services.forge.ci_status(head)
        if first is None and state == "pending":
            stored = services.store.get_flag(f"ci-wait:{head}")
            first = float(stored) if stored else services.clock()
            if not stored:
                services.store.set_flag(f"ci-wait:{head}", repr(first))
        waited = 0.0 if first is None else services.clock() - first
        if state != "pending" or waited >= cfg.ci_wait_s:
            return {"state": state, "waited_s": round(waited, 1)}
        check_kill_switch(services)
        # CI still running: the run's CPU slot goes to the others meanwhile (a run that gave
        # it away for a CI already finished would ask again behind every run waiting for one)
        with waiting():
            time.sleep(min(cfg.ci_poll_s, cfg.ci_wait_s - waited))


@action("validate.health")
def health(ctx: StepContext) -> Health:
    """Production's own health: its tests and the hold-out on the production commit. Green is
    kept per tree and hold-out for ``health.green_for_h`` hours, then checked again with every
    test run anew; red is checked again next time, so a fix outside git (a flaky service) is
    seen at once. Journeys that all passed calibrate the tree, red tests or not."""
    settings, store, repo = ctx.services.settings, ctx.services.store, ctx.services.repo
    _, sha = production_tip(ctx)
    key = calibration_key(repo, sha, settings.holdout_dir, "health")
    if cached := green_now(store, settings, key):
        return Health.from_outputs({**json.loads(cached), "cached": True})
    if not settings.config.commands.start:
        return Health(production_sha=sha, green=True, skipped="no commands.start")
    # a green record that aged: every check runs again, no test result of the tree reused
    again = store.get_flag(key) is not None
    result = journeys_on(ctx, sha, "health", tests=True, reuse=None if again else flakes(store))
    assert result.tests is not None
    failed = sum(not j.passed for j in result.journeys)
    summary = Health(
        production_sha=sha,
        green=result.tests.exit_code == 0 and not failed,
        tests_exit_code=result.tests.exit_code,
        journeys_failed=failed,
        journeys=len(result.journeys),
        network=result.network,
    )
    # the same journeys on the same tree, red tests or not: calibration too
    record_calibration(store, calibration_key(repo, sha, settings.holdout_dir), result)
    if not summary.green:
        raise StepFailed(
            f"production {sha[:12]} is red: `{result.tests.command}` exited "
            f"{result.tests.exit_code}; {failed} of {len(result.journeys)} hold-out journeys "
            "failed",
            result,
        )
    store.set_flag(key, summary.model_dump_json(exclude={"network"}))
    return summary


@action("validate.baseline")
def baseline(ctx: StepContext, prepare: Prepared) -> Baseline:
    """Calibration: the hold-out must pass on production before it can judge a change. The
    change joins the merge queue here: its candidate will be built on the changes ahead of it
    (``harness.validate.landing``)."""
    _, sha = production_tip(ctx)
    services = ctx.services
    base, queued = _queued_base(ctx, prepare.head, sha)
    if is_revert(prepare.candidate.spec.kind):
        # heal's revert of a red production: nothing to calibrate, its own journeys judge it
        tree = tree_of(services.repo, sha)
        return Baseline(
            sha=sha,
            tree=tree,
            journeys=[],
            journeys_passed=False,
            production_sha=sha,
            base=base,
            queued=queued,
        )
    result, cached = _calibration(ctx, sha)
    if not result.journeys_passed:
        failed = sum(not j.passed for j in result.journeys)
        # the count only: this line reaches the issue; the names stay in the run's record
        raise StepFailed(
            f"the hold-out fails on production {sha[:12]}: {failed} of "
            f"{len(result.journeys)} journeys (`factory report {ctx.run_id}`)",
            result,
        )
    return Baseline(**dict(result), production_sha=sha, cached=cached, base=base, queued=queued)


def _calibration(ctx: StepContext, sha: str) -> tuple[HoldoutRun, bool]:
    """The hold-out on ``sha`` (the calibration of its tree, computed once), and whether it
    was known already."""
    services = ctx.services
    return cached_or_computed(
        services.store,
        services.settings.state_dir,
        calibration_key(services.repo, sha, services.settings.holdout_dir),
        lambda: journeys_on(ctx, sha, "baseline"),
    )


@action("validate.calibrate")
def calibrate(ctx: StepContext) -> HoldoutRun:
    """Calibration alone, passed or not, kept for the validations after it: a backtest's
    look, before any model call, at whether the hold-out fits a case's base."""
    return _calibration(ctx, production_tip(ctx)[1])[0]


def _queued_base(ctx: StepContext, head: str, production: str) -> tuple[str | None, list[int]]:
    """The merge queue's speculative base for this change (None: production itself), and the
    issues ahead whose changes it carries. Only a run that holds its issue queues."""
    if ctx.lease is None or ctx.issue is None:
        return None, []
    services = ctx.services
    ahead = landing.join(
        services.store, services.settings.state_dir, ctx.run_id, ctx.issue, head, ctx.lease.holder
    )
    landing_alone = [e for e in ahead if not _waits_for_a_person(services, e)]
    base, queued = landing.speculative_base(services.repo, production, landing_alone)
    return (base if queued else None), queued


def _waits_for_a_person(services: Services, ahead: landing.Entry) -> bool:
    """Whether the change ``ahead`` in the merge queue waits for a person even if every gate
    passes (the review gate: its kind has not earned trust, nobody approved its head): a
    candidate built on it would be validated again when it does not land."""
    candidate = services.store.latest_artifact(PrCandidate, ahead.issue)
    kind = kind_of(candidate.spec if candidate else None)
    passed = Routing(route="merge", reason="", score=1.0, verdict="pass", gates=[], fix_attempts=0)
    return review_gate(services, ahead.issue, ahead.head, kind, passed).route != "merge"


def validator_question(ctx: StepContext, candidate: PrCandidate) -> ValidatorQuestion:
    """What the sealed validator is asked about this change: only what the seal allows (the
    governance, the issue's sanitised title and body, its acceptance criteria)."""
    settings, spec = ctx.services.settings, candidate.spec
    role = settings.config.role_model("validator")
    task = ctx.services.templates.render(
        "prompts/validate_task.md.j2",
        title=spec.title,
        body=spec.body,
        criteria=spec.acceptance_criteria,
        number=ctx.issue,
    )
    return ValidatorQuestion(
        model=settings.config.models.validator,
        thinking=role.thinking,
        effort=role.effort,
        governance=settings.governance.texts(),
        task=task,
        criteria=spec.acceptance_criteria,
    )


@action("validate.check")
def check(ctx: StepContext, prepare: Prepared, baseline: Baseline) -> CheckResult:
    """Tests, journeys and the sealed validator on the candidate, each on a fresh app."""
    if prepare.head != prepare.candidate.head:
        raise StepFailed("the PR head changed after its gates passed; they no longer hold", {})
    production = baseline.production_sha  # setup's network: this only
    repo, head = ctx.services.repo, prepare.head
    try:
        candidate, base, queued = _candidate(repo, baseline, head, prepare.candidate.branch)
    except GitError as exc:
        return CheckResult(
            sha=production,
            tree=tree_of(repo, production),
            journeys=[],
            journeys_passed=False,
            production_sha=production,
            head=head,
            conflict=f"does not merge cleanly with production {production[:12]}: {exc}",
            validator=_verdict_before(ctx, head),
        )
    protected = list(ctx.services.settings.governance.rules.protected_paths)
    if problems := shape.tree_problems(repo, base, candidate, protected):
        raise shape.UnsafeTree(problems, say_why=True)  # before any checkout, before any merge
    # a revert restores what production held: no criteria to judge
    reverting = is_revert(prepare.candidate.spec.kind)
    question = None if reverting else validator_question(ctx, prepare.candidate)
    earlier = _earlier_verdict(ctx, head, candidate, question.digest()) if question else None
    changed = repo.paths_between(base, candidate)  # this change's paths, not those ahead
    lost = proof.tests_lost(repo, base, candidate, changed)  # a revert's too: named
    bug_tests, before = None, None
    if prepare.candidate.spec.kind == "bug":  # its tests, on the code it replaces
        bug_tests = proof.new_tests(repo, candidate, changed)
        code = [p for p in changed if not proof.is_test_file(p)]
        restore = {p: repo.read_blob(base, p) for p in code}
        before = Before(bug_tests, restore) if bug_tests else None
    result = journeys_on(
        ctx,
        candidate,
        "candidate",
        question,
        trusted=production,
        tests=True,
        earlier=earlier,
        before=before,
        reuse=flakes(ctx.services.store),
    )
    if not result.setup_offline_for:
        # if this candidate lands, production becomes this tree: already baseline
        key = calibration_key(repo, candidate, ctx.services.settings.holdout_dir)
        record_calibration(ctx.services.store, key, result)
    return CheckResult(
        **dict(result),
        production_sha=production,
        head=head,
        base=None if base == production else base,
        queued=queued,
        tests_lost=lost,
        bug_tests=bug_tests,
        works_before=_works_before(ctx, result.validator, question, base, production),
    )


def _works_before(
    ctx: StepContext,
    run: ValidatorRun | None,
    question: ValidatorQuestion | None,
    base: str,
    production: str,
) -> list[int]:
    """The harness's own look for what the change broke: when an action of the validator's
    failed on the candidate (an element that is not there, a request that errored or was
    answered with an error), its actions are done again, in order and with no model, on a
    fresh app of what the candidate builds on; the numbers of those that failed on the
    candidate and work there (``harness.validate.route``: a regression, unless a criterion
    names what they act on)."""
    if run is None or not any(o.failed for o in run.observed):
        return []
    before = journeys_on(
        ctx, base, "before", question, trusted=production, only=frozenset(), replay=run.observed
    ).validator
    again = before.observed if before else []
    return [
        o.number for o, b in zip(run.observed, again, strict=False) if o.failed and not b.failed
    ]


def _verdict_before(ctx: StepContext, head: str) -> ValidatorRun | None:
    """The validator's newest verdict on an earlier candidate of the PR head ``head``: what a
    change that no longer merges was judged, kept with it (nothing is checked again)."""
    for _, checked in ctx.services.store.artifacts(CheckResult, ctx.number, ANY_RUN):
        if checked.head == head and checked.candidate is not None and checked.verdict:
            return checked.validator
    return None


def _candidate(
    repo: GitRepo, calibrated: Baseline, head: str, branch: str
) -> tuple[str, str, list[int]]:
    """(candidate, its base, issues queued): what would land — production as calibrated, the
    changes queued ahead, then ``head`` (or, when ``head`` does not merge onto those,
    production and ``head`` alone). Everything runs on it; the merge lands exactly its tree."""

    def onto(on: str) -> str:
        return repo.merge_commit(on, head, f"Candidate: {branch} on {on[:12]}")

    if calibrated.base:
        with contextlib.suppress(GitError):
            return onto(calibrated.base), calibrated.base, calibrated.queued
    return onto(calibrated.production_sha), calibrated.production_sha, []


def _earlier_verdict(
    ctx: StepContext, head: str, candidate: str, asked: str
) -> EarlierVerdict | None:
    """The validator's newest verdict on an earlier candidate of the same PR head, if asked
    the same question: kept when the candidates differ only in files the app cannot show,
    else only if its actions, done again, show exactly what they showed (``EarlierVerdict``)."""
    unseen = ctx.services.settings.config.validation.unseen_paths
    for made_by, checked in ctx.services.store.artifacts(CheckResult, ctx.number, ANY_RUN):
        run = checked.validator
        if checked.head != head or run is None or checked.candidate is None:
            continue
        if run.asked != asked or run.output is None:
            return None  # asked something else, or no verdict: ask again
        try:
            changed = ctx.services.repo.paths_between(checked.candidate, candidate)
        except GitError:
            continue  # that candidate is gone: look again
        unseen_only = all(matching(path, unseen) for path in changed)
        given_by = run.kept.run if run.kept and run.kept.run else made_by
        how = KeptVerdict(candidate=checked.candidate, changed=changed, run=given_by)
        return EarlierVerdict(run, how, unseen_only)
    return None


MAX_TESTS_OUTPUT = 5000  # of the tests' output on the candidate, kept for the next attempt

ROUTE_LABELS = MappingProxyType(
    {
        "needs_review": Label.NEEDS_REVIEW,
        "holdout_conflict": Label.NEEDS_HUMAN,
        "needs_human": Label.NEEDS_HUMAN,
        "retry": Label.ACCEPTED,
        "failed": Label.FAILED,
    }
)


@action("validate.decide")
def decide(
    ctx: StepContext, prepare: Prepared, check: CheckResult, second_look: Verdict | None
) -> Validation:
    """Apply the route: one comment that leads with the decision (with each criterion's
    result, quote and where the validator saw it), and one terminal label in place of
    ``factory:accepted`` (a retry keeps it: the issue goes back to implementation).
    ``second_look``: ``validation.second``'s verdict, when one was asked."""
    rules, verdict = ctx.services.settings.governance.rules, check.verdict
    ci = ctx.services.forge.ci_status(prepare.head)
    kind, candidate = kind_of(prepare.candidate.spec), prepare.candidate
    gates = trusted_setup(ctx.services, kind, [*candidate.gates, *setup_code_seen(check)])
    earlier = ctx.services.store.artifacts(Validation, ctx.number, limit=rules.max_rebases + 1)
    rebases = len(list(takewhile(lambda found: found[1].conflict, earlier)))
    candidate = candidate.evolve(gates=gates)
    routing = decide_route(rules, candidate, check, ci, rebases, second_look)
    # the person in the loop: earned trust, and a person's approval of this head
    routing = review_gate(ctx.services, ctx.number, prepare.head, kind, routing)
    body = ctx.services.templates.render(
        "comments/validated.md.j2",
        route=routing.route,
        reason=clip(routing.reason, 1200),
        rule=routing.rule,
        score=routing.score,
        verdict=routing.verdict,
        conflict=bool(check.conflict),
        gates=[g.model_dump() for g in routing.gates],
        pr=prepare.pr,
        summary=clip(verdict.summary if verdict else "", 600),
        findings=prepare.candidate.findings,
        journeys=[
            {"passed": j.passed} for j in check.journeys if not j.learned
        ],  # never their names
        criteria=check.validator.by_criterion() if check.validator else [],
        fix_attempts=routing.fix_attempts,
        run_id=ctx.run_id,
    )
    if routing.route != "merge":
        _refuse(ctx, routing.route, prepare.pr, body)
    return Validation(
        **dict(routing),
        implement_run=prepare.implement_run,
        pr=prepare.pr,
        validator=verdict,
        journeys_passed=check.journeys_passed,
        candidate=check.candidate,
        production_sha=check.production_sha,
        conflict=check.conflict,
        tests_exit_code=check.tests.exit_code if check.tests else None,
        tests_output=clipped(check.tests.output, MAX_TESTS_OUTPUT) if check.tests else "",
        comment=body,
        holdout=holdout_digest(ctx.services.settings.holdout_dir),
    )


def _refuse(ctx: StepContext, route_name: str, pr: int, body: str) -> None:
    """A change that does not merge: the comment, its PR closed unless a person reviews it
    (a retry opens a new one), and the route's label."""
    forge = ctx.services.forge
    forge.post_comment(ctx.number, f"validate:{route_name}:{ctx.run_id}", body)
    if route_name != "needs_review":  # this attempt is over
        forge.close_pr(pr)
    set_state(forge, ctx.number, ROUTE_LABELS[route_name])


@action("validate.fail")
def fail(ctx: StepContext) -> Failed:
    failure = ctx.last_failure()
    forge = ctx.services.forge
    set_state(forge, ctx.number, Label.NEEDS_HUMAN)
    forge.post_comment(
        ctx.number,
        f"validate:needs-human:{ctx.run_id}",
        ctx.services.templates.render(
            "comments/validate_failed.md.j2", failure=failure, run_id=ctx.run_id
        ),
    )
    return Failed(label=Label.NEEDS_HUMAN, reason=failure.error)
