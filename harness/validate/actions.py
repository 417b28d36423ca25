"""The validate workflow's actions: calibrate, check, decide in code, merge, smoke-test."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.artifacts import (
    GateResult,
    PrCandidate,
    Produced,
    Validation,
    ValidationTarget,
    Verdict,
)
from harness.config.globs import matching
from harness.config.models import Rules
from harness.engine.actions import action
from harness.engine.context import StepContext
from harness.engine.runner import check_kill_switch
from harness.errors import FactoryError, GitError, StepFailed
from harness.faults import fault_point
from harness.forge.base import set_state
from harness.forge.neutral import Markdown
from harness.git import shape
from harness.review.trust import kind_of, review_gate
from harness.triage.outbound import sanitize_outbound
from harness.validate.calibration import (
    cached_or_computed,
    calibration_key,
    health_key,
    record_calibration,
)
from harness.validate.evidence import EarlierVerdict, journeys_on
from harness.validate.landing import take_landing


def _production(ctx: StepContext) -> tuple[str, str]:
    branch = ctx.services.settings.config.production_branch
    return branch, ctx.services.forge.sync(branch)  # on GitHub: fetched first


PREPARE = {"prepare": "validate.prepare"}
BASELINE = {"baseline": "validate.baseline"}
CHECK = {"check": "validate.check"}


@action("validate.prepare", produces=ValidationTarget, consumes=(PrCandidate,))
def prepare(ctx: StepContext) -> Produced:
    """The PR to validate and what implement proved about it: the newest ``PrCandidate``
    for this issue whose pull request is still open."""
    assert ctx.issue is not None
    for _, candidate in ctx.services.store.artifacts(PrCandidate, ctx.issue):
        pr = ctx.services.forge.find_pr(candidate.branch)
        if pr is None or pr.state != "open":
            continue
        head = ctx.services.forge.sync(pr.branch)  # on GitHub: what the PR holds now
        target = ValidationTarget(implement_run=candidate.implement_run, pr=pr.number, head=head)
        return Produced(
            target,
            {
                "branch": pr.branch,
                "gated_head": candidate.head,
                "gates": [g.model_dump(mode="json") for g in candidate.gates],
                "spec": {
                    **candidate.spec.model_dump(mode="json"),
                    "triage_run": candidate.triage_run,
                },
                "fix_attempts": candidate.fix_attempts,
            },
        )
    raise FactoryError(f"issue {ctx.issue} has no open pull request from the factory")


@action("validate.ci", needs=PREPARE)
def ci(ctx: StepContext) -> dict[str, Any]:
    """CI still running on the PR head is waited for (bounded) before anything is spent on
    journeys and the validator: a gate read too early would send a good change to a person.
    The wait counts from the first look at this head, across kills and resumes."""
    services = ctx.services
    if not services.settings.governance.rules.auto_merge.require_ci:
        return {"state": "not required", "waited_s": 0.0}
    head, cfg = ctx.outputs["prepare"]["head"], services.settings.config.validation
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
        time.sleep(min(cfg.ci_poll_s, cfg.ci_wait_s - waited))


@action("validate.health")
def health(ctx: StepContext) -> dict[str, Any]:
    """Production's own health: its tests and the hold-out on the production commit. Green is
    kept per commit and hold-out (and serves validation's calibration as well); red is
    checked again next time, so a fix outside git (a flaky service) is seen at once."""
    settings, store = ctx.services.settings, ctx.services.store
    _, sha = _production(ctx)
    key = health_key(ctx.services.repo, sha, settings.holdout_dir)
    if cached := store.get_flag(key):
        return {**json.loads(cached), "cached": True}
    if not settings.config.commands.start:
        return {"production_sha": sha, "green": True, "skipped": "no commands.start"}
    result = journeys_on(ctx, sha, "health", tests=True)
    tests = result["tests"]
    failed = [j for j in result["journeys"] if not j["passed"]]
    green = tests["exit_code"] == 0 and not failed
    summary = {
        "production_sha": sha,
        "green": green,
        "tests_exit_code": tests["exit_code"],
        "journeys_failed": len(failed),
        "journeys": len(result["journeys"]),
    }
    if not green:
        raise StepFailed(
            f"production {sha[:12]} is red: `{tests['command']}` exited {tests['exit_code']}; "
            f"{len(failed)} of {len(result['journeys'])} hold-out journeys failed",
            {**result, **summary},
        )
    store.set_flag(key, json.dumps(summary))
    if not failed:  # the same journeys on the same tree: validation's calibration too
        store.set_flag(
            calibration_key(ctx.services.repo, sha, settings.holdout_dir), json.dumps(result)
        )
    return {**summary, "network": result["network"], "cached": False}


@action("validate.baseline")
def baseline(ctx: StepContext) -> dict[str, Any]:
    """Calibration: the hold-out must pass on production before it can judge a change."""
    _, sha = _production(ctx)
    services = ctx.services
    result, cached = cached_or_computed(
        services.store,
        services.settings.state_dir,
        calibration_key(services.repo, sha, services.settings.holdout_dir),
        lambda: journeys_on(ctx, sha, "baseline"),
    )
    if not result["journeys_passed"]:
        failed = [j["name"] for j in result["journeys"] if not j["passed"]]
        # the count only: this line reaches the issue; the names stay in the run's record
        raise StepFailed(
            f"the hold-out fails on production {sha[:12]}: {len(failed)} of "
            f"{len(result['journeys'])} journeys (`factory report {ctx.run_id}`)",
            result,
        )
    return {**result, "production_sha": sha, "cached": bool(cached)}


def _validator_request(ctx: StepContext) -> dict[str, Any]:
    services, spec = ctx.services, ctx.outputs["prepare"]["spec"]
    settings = services.settings
    seal = {
        "title": spec["title"],
        "body": spec["body"],
        "criteria": spec["acceptance_criteria"],
        "number": ctx.issue,
    }
    spent = services.store.spend(issue=ctx.issue)
    return {
        "model": settings.config.models.validator,
        "thinking": settings.config.role_model("validator").thinking,
        "effort": settings.config.role_model("validator").effort,
        "governance": settings.governance.texts(),
        "task": services.templates.render("prompts/validate_task.md.j2", **seal),
        "budget_usd": max(0.0, settings.governance.rules.budgets.per_issue_usd - spent),
    }


@action("validate.check", needs={**PREPARE, **BASELINE})
def check(ctx: StepContext) -> dict[str, Any]:
    """Journeys on the PR head, then the sealed validator, each on a fresh app of its own."""
    prepared = ctx.outputs["prepare"]
    if prepared["head"] != prepared["gated_head"]:
        raise StepFailed("the PR head changed after its gates passed; they no longer hold", {})
    production = ctx.outputs["baseline"]["production_sha"]  # setup's network: this tree only
    # The candidate is what would land: production as calibrated, with this change merged
    # in. Tests, journeys and the validator all run on it; the merge lands exactly its tree.
    try:
        candidate = ctx.services.repo.merge_commit(
            production, prepared["head"], f"Candidate: {prepared['branch']} on {production[:12]}"
        )
    except GitError as exc:
        return {
            "conflict": f"does not merge cleanly with production {production[:12]}: {exc}",
            "production_sha": production,
            "journeys": [],
            "journeys_passed": False,
        }
    protected = list(ctx.services.settings.governance.rules.protected_paths)
    if problems := shape.tree_problems(ctx.services.repo, production, candidate, protected):
        raise shape.UnsafeTree(problems, say_why=True)  # before any checkout, before any merge
    request = _validator_request(ctx)
    asked = asked_digest(request)
    earlier, unseen_only = _earlier_verdict(ctx, prepared["head"], candidate, asked)
    if earlier is not None and unseen_only:  # nothing the app serves changed: no need to look
        result = journeys_on(ctx, candidate, "candidate", trusted=production, tests=True)
        result["validator"], result["validator_kept"] = dict(earlier.verdict), earlier.kept
    else:
        result = journeys_on(
            ctx, candidate, "candidate", request, trusted=production, tests=True, earlier=earlier
        )
        if "validator_kept" not in result:
            result["validator"]["asked"] = asked
    if result["journeys_passed"] and not result["setup_offline_for"]:
        # if this candidate lands, production becomes this tree: already calibrated
        record_calibration(
            ctx.services.store,
            calibration_key(ctx.services.repo, candidate, ctx.services.settings.holdout_dir),
            result,
        )
    return {
        **result,
        "candidate": candidate,
        "production_sha": production,
        "head": prepared["head"],
    }


def asked_digest(request: dict[str, Any]) -> str:
    """What the validator is asked, apart from the app: model, governance and task. A verdict
    is only ever kept for the same question."""
    asked = {k: request.get(k) for k in ("model", "thinking", "effort", "governance", "task")}
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


def _earlier_verdict(
    ctx: StepContext, head: str, candidate: str, asked: str
) -> tuple[EarlierVerdict | None, bool]:
    """The validator's newest verdict on an earlier candidate of the same PR head, asked the
    same question, and whether the two candidates differ only in files the app cannot show
    (``validation.unseen_paths``; then it is kept as it is). Otherwise it is kept only if its
    recorded actions, done again on the new candidate, show exactly what they showed it
    (``EarlierVerdict``). Tests and journeys always run again on the new candidate."""
    assert ctx.issue is not None
    store, repo = ctx.services.store, ctx.services.repo
    unseen = ctx.services.settings.config.validation.unseen_paths
    for run in store.list_runs(limit=20, workflow="validate", issue=ctx.issue):
        for step in reversed(store.steps(run.id)):
            out = step.outputs or {}
            if step.step_id != "check" or out.get("head") != head or "validator" not in out:
                continue
            verdict = dict(out["validator"])
            if verdict.get("asked", asked) != asked or "output" not in verdict:
                return None, False  # asked something else, or no verdict: ask again
            try:
                changed = repo.paths_between(str(out["candidate"]), candidate)
            except GitError:
                continue  # that candidate is gone: look again
            kept = {"from": out["candidate"], "changed": changed}
            if all(matching(path, unseen) for path in changed):
                return EarlierVerdict(verdict, [], kept), True
            observed = verdict.get("observed")
            if verdict.get("asked") != asked or not isinstance(observed, list):
                return None, False
            return EarlierVerdict(verdict, observed, kept), False
    return None, False


@dataclass(frozen=True)
class Routing:
    """Where a validated change goes, and why, decided in code from the evidence.

    ``route``: merge | needs_review | holdout_conflict | retry | failed. ``score`` is the
    validator's own score, kept as given whatever else failed."""

    route: str
    reason: str
    score: float
    verdict: str
    gates: list[dict[str, Any]]
    fix_attempts: int
    not_observable: list[str] = field(default_factory=list)


MAX_TESTS_OUTPUT = 5000  # of the tests' output on the candidate, kept for the next attempt

ROUTE_LABELS = {
    "needs_review": "factory:needs-review",
    "holdout_conflict": "factory:needs-human",
    "retry": "factory:accepted",
    "failed": "factory:failed",
}


def route(ctx: StepContext) -> Routing:
    """The route for this run's evidence (see ``decide_route``)."""
    prepared = ctx.outputs["prepare"]
    routing = decide_route(
        ctx.services.settings.governance.rules,
        prepared,
        ctx.outputs["check"],
        ctx.services.forge.ci_status(prepared["head"]),
    )
    # earned trust and a person's approval of this head (harness/review/trust.py)
    kind = kind_of(prepared["spec"])
    return review_gate(ctx.services, ctx.issue, prepared["head"], kind, routing)


@dataclass(frozen=True)
class Evidence:
    """What the validate gates judge: implement's proof, this run's checks, CI, the rules."""

    rules: Rules
    prepared: dict[str, Any]
    checked: dict[str, Any]
    ci: str
    verdict: str
    score: float
    unseen: list[str]


def _tests_gate(e: Evidence) -> GateResult | None:
    tested = e.checked.get("tests")
    if not tested:
        return None
    return GateResult(
        name="tests_on_candidate",
        passed=tested["exit_code"] == 0,
        evidence=f"`{tested['command']}` exited {tested['exit_code']} on what would land "
        f"(production {str(e.checked.get('production_sha', ''))[:12]} with this change), "
        f"tree {str(tested['tree'])[:12]}",
    )


def _journeys_gate(e: Evidence) -> GateResult:
    journeys = e.checked["journeys"]
    return GateResult(
        name="journeys",
        passed=bool(e.checked["journeys_passed"]),
        evidence=f"{sum(j['passed'] for j in journeys)}/{len(journeys)} hold-out "
        "journeys passed (each on a fresh app; all pass on production)",
    )


def _validator_gate(e: Evidence) -> GateResult:
    minimum = e.rules.auto_merge.min_score
    return GateResult(
        name="validator",
        passed=e.verdict == "pass" and e.score >= minimum,
        evidence=f"verdict {e.verdict}, score {e.score:.2f} (min {minimum})"
        + (f"; {len(e.unseen)} criteria not observable" if e.unseen else ""),
    )


def _ci_gate(e: Evidence) -> GateResult:
    return GateResult(
        name="ci",
        passed=e.ci == "success" or not e.rules.auto_merge.require_ci,
        evidence=f"CI {e.ci} on {e.prepared['head'][:12]}",
    )


# The gates validation adds to implement's, each found again by its name (never its place).
VALIDATE_GATES: tuple[Callable[[Evidence], GateResult | None], ...] = (
    _tests_gate,
    _journeys_gate,
    _validator_gate,
    _ci_gate,
)
SEALED = ("journeys", "validator", "ci")  # judged after a browser looked


def decide_route(
    rules: Rules, prepared: dict[str, Any], checked: dict[str, Any], ci: str
) -> Routing:
    """The merge gate and the routing of everything that does not merge.

    Journeys are their own gate and the validator's verdict and score are kept as given; no
    model can raise what a gate computed. In order: journeys that pass on production but fail
    on this change while the validator passes it are a hold-out conflict (a person decides: no
    retry can satisfy both); a criterion the validator could not observe goes to a person's
    review; every gate green merges; a passing verdict in the review band goes to review;
    anything else is retried while fix attempts remain, then failed. Every gate is looked up
    by its name: adding or reordering gates changes no route."""
    output = checked.get("validator", {}).get("output") or {}
    verdict = str(output.get("verdict", "none"))
    score = float(output.get("score", 0.0)) if output else 0.0
    criteria = [c for c in output.get("criteria", []) if isinstance(c, dict)]
    unseen = [str(c.get("criterion", "")) for c in criteria if c.get("result") == "not_observable"]
    failed_criteria = [c for c in criteria if c.get("result") == "fail"]
    earlier = [GateResult.model_validate(g) for g in prepared["gates"]]
    if checked.get("conflict"):
        attempts = int(prepared.get("fix_attempts", 0))
        gate = GateResult(name="merges_with_production", passed=False, evidence=checked["conflict"])
        gates_now = [g.model_dump() for g in (*earlier, gate)]
        if attempts < rules.max_fix_attempts:
            return Routing(
                "retry",
                f"the change {checked['conflict']}; implemented again on the new production",
                score,
                verdict,
                gates_now,
                attempts,
            )
        return Routing(
            "failed",
            f"the change {checked['conflict']} after {attempts} fix attempts",
            score,
            verdict,
            gates_now,
            attempts,
        )
    evidence = Evidence(rules, prepared, checked, ci, verdict, score, unseen)
    results = [*earlier, *(g for gate in VALIDATE_GATES if (g := gate(evidence)) is not None)]
    named = {g.name: g for g in results}
    gates = [g.model_dump() for g in results]
    attempts = int(prepared.get("fix_attempts", 0))
    validator_ok = named["validator"].passed
    journeys_ok = named["journeys"].passed

    def routed(name: str, reason: str) -> Routing:
        return Routing(name, reason, score, verdict, gates, attempts, unseen)

    # gates that failed before any browser looked: implement's, and the tests on the candidate
    before = [g for g in results if g.name not in SEALED and not g.passed]
    in_band = verdict == "pass" and score >= rules.review_band and not failed_criteria
    if not journeys_ok and in_band and not before:
        return routed(
            "holdout_conflict",
            "a hidden user journey that passes on production fails on this change, while the "
            "validator passed it: the hold-out and the issue disagree",
        )
    others_pass = journeys_ok and not before  # CI and validator aside
    if others_pass and named["ci"].passed and unseen and not failed_criteria:
        return routed("needs_review", f"the validator could not observe: {'; '.join(unseen)}")
    if all(g.passed for g in results):
        if rules.auto_merge.enabled:
            return routed("merge", f"every gate passed; validator score {score:.2f}")
        return routed("needs_review", "every gate passed; auto_merge is disabled")
    if others_pass and in_band:
        if validator_ok:  # only CI said no
            return routed("needs_review", f"CI is {ci} on the head: a maintainer reviews it")
        return routed(
            "needs_review",
            f"validator score {score:.2f} is in the review band "
            f"[{rules.review_band}, {rules.auto_merge.min_score})",
        )
    failed = ", ".join(g.name for g in results if not g.passed)
    if attempts < rules.max_fix_attempts:
        return routed("retry", f"{failed} failed; fix attempt {attempts + 1} follows")
    return routed(
        "failed", f"{failed} failed after {attempts} fix attempts (max {rules.max_fix_attempts})"
    )


@action("validate.decide", produces=Validation, needs={**PREPARE, **CHECK})
def decide(ctx: StepContext) -> Produced:
    """Apply the route: one comment that leads with the decision, and one terminal label in
    place of ``factory:accepted`` (a retry keeps it: the issue goes back to implementation)."""
    assert ctx.issue is not None
    forge, templates = ctx.services.forge, ctx.services.templates
    routing = route(ctx)
    summary = sanitize_outbound(
        str(ctx.outputs["check"].get("validator", {}).get("output", {}).get("summary", "")), 600
    )
    body = templates.render(
        "comments/validated.md.j2",
        route=routing.route,
        reason=sanitize_outbound(routing.reason, 1200),
        score=routing.score,
        gates=routing.gates,
        pr=ctx.outputs["prepare"]["pr"],
        summary=summary,
        journeys=ctx.outputs["check"]["journeys"],
        fix_attempts=routing.fix_attempts,
        run_id=ctx.run_id,
    )
    if routing.route != "merge":
        forge.post_comment(ctx.issue, f"validate:{routing.route}:{ctx.run_id}", body)
        if routing.route != "needs_review":  # this attempt is over; a retry opens a new PR
            forge.close_pr(ctx.outputs["prepare"]["pr"])
        set_state(forge, ctx.issue, ROUTE_LABELS[routing.route])
    checked, prepared = ctx.outputs["check"], ctx.outputs["prepare"]
    tested = checked.get("tests") or {}
    validation = Validation(
        implement_run=str(prepared["implement_run"]),
        pr=int(prepared["pr"]),
        route=routing.route,
        reason=routing.reason,
        score=routing.score,
        verdict=routing.verdict,
        fix_attempts=routing.fix_attempts,
        not_observable=routing.not_observable,
        gates=[GateResult.model_validate(g) for g in routing.gates],
        validator=Verdict.of(checked.get("validator", {}).get("output")),
        journeys_passed=bool(checked.get("journeys_passed", True)),
        candidate=checked.get("candidate"),
        production_sha=checked.get("production_sha"),
        conflict=checked.get("conflict"),
        tests_exit_code=tested.get("exit_code"),
        tests_output=str(tested.get("output", ""))[-MAX_TESTS_OUTPUT:],
    )
    return Produced(validation, {"comment": body})


TESTED_SECTION = "\n\n## Tested before landing\n"  # heads comments/pr_tested.md.j2


@action("validate.merge", needs={**PREPARE, **BASELINE, **CHECK, "decide": "validate.decide"})
def merge(ctx: StepContext) -> dict[str, Any]:
    """The applier merges with the expected head, only if production did not move; one
    landing at a time: production's landing lease, taken here, is kept until the run ends
    (see ``harness.validate.landing``)."""
    assert ctx.issue is not None
    if ctx.lease is None:  # whoever holds the issue gives production's lease back at its end
        raise StepFailed("a merge runs only under the issue's lease ('factory validate')", {})
    take_landing(ctx.services.store, ctx.lease.holder)
    ctx.check_lease()
    forge, prepared = ctx.services.forge, ctx.outputs["prepare"]
    branch, sha = _production(ctx)
    if sha != ctx.outputs["baseline"]["production_sha"]:
        raise StepFailed(f"{branch} moved to {sha[:12]} after validation: validating again", {})
    check = ctx.outputs["check"]
    pr = forge.find_pr(prepared["branch"])
    if pr is not None:  # the PR names the tested commit too (a previous one is replaced)
        own = pr.body.partition(TESTED_SECTION)[0].rstrip("\n")
        forge.update_pr_body(
            prepared["pr"],
            ctx.services.templates.render(
                "comments/pr_tested.md.j2",
                body=Markdown(own),
                candidate=check["candidate"],
                production=check["production_sha"],
                head=prepared["head"],
                tree=check["tree"],
                tests=check.get("tests"),
                journeys=len(check.get("journeys", [])),
            ),
        )
    merged = forge.merge_pr(prepared["pr"], prepared["head"])
    fault_point("validate.merge.done")
    tested = check.get("tree")
    landed = ctx.services.repo.tree_of(merged)
    if tested is not None and landed != tested:  # production must be exactly what was tested
        forge.revert_merge(branch, merged, f"Revert factory merge for issue {ctx.issue}: untested")
        raise StepFailed(
            f"the merge landed tree {str(landed)[:12]}, not the tested {tested[:12]}: reverted",
            {"merge_sha": merged, "tested_tree": tested, "landed_tree": landed},
        )
    forge.post_comment(
        ctx.issue,
        f"validate:merged:{prepared['pr']}",
        ctx.services.templates.render(
            "comments/merged.md.j2",
            merge_sha=merged,
            tree=landed,
            candidate=check["candidate"],
            decision=ctx.outputs["decide"]["comment"],
        ),
    )
    set_state(forge, ctx.issue, "factory:merged")
    forge.close_issue(ctx.issue)
    return {"merge_sha": merged, "branch": branch, "tested_tree": tested, "landed_tree": landed}


@action("validate.smoke", needs={"merge": "validate.merge"})
def smoke(ctx: StepContext) -> dict[str, Any]:
    """Journeys on the new production head; a failure is reverted by a new commit."""
    assert ctx.issue is not None
    merged = ctx.outputs["merge"]["merge_sha"]
    before = ctx.services.repo.rev_parse(f"{merged}^1")  # production as it was: setup's network
    result = journeys_on(ctx, merged, "smoke", trusted=before)
    if result["journeys_passed"]:
        return {**result, "reverted": None}
    forge = ctx.services.forge
    branch = ctx.outputs["merge"]["branch"]
    current = forge.sync(branch)
    revert = (
        forge.revert_merge(
            branch, merged, f"Revert factory merge for issue {ctx.issue}: smoke failed"
        )
        if current == merged
        else current
    )
    failed = [j for j in result["journeys"] if not j["passed"]]
    forge.reopen_issue(ctx.issue)
    # back to work (not a terminal state): implemented again from production, told why
    set_state(forge, ctx.issue, "factory:accepted", ("factory:regression",))
    forge.post_comment(
        ctx.issue,
        f"validate:regression:{merged}",
        ctx.services.templates.render(
            "comments/regression.md.j2",
            merge_sha=merged,
            revert_sha=revert,
            failed=failed,
            run_id=ctx.run_id,
        ),
    )
    return {**result, "reverted": revert}


@action("validate.fail")
def fail(ctx: StepContext) -> dict[str, Any]:
    assert ctx.issue is not None
    failure = ctx.last_failure()
    forge = ctx.services.forge
    set_state(forge, ctx.issue, "factory:needs-human")
    forge.post_comment(
        ctx.issue,
        f"validate:needs-human:{ctx.run_id}",
        ctx.services.templates.render(
            "comments/validate_failed.md.j2", failure=failure, run_id=ctx.run_id
        ),
    )
    return {"label": "factory:needs-human", "reason": failure.error}
