"""Landing a validated change: ``validate.merge`` merges it with the expected head while it
holds production's landing lease (``harness.validate.landing``) and checks that production
then has exactly the tested tree; ``validate.smoke`` runs the hold-out on production after
the merge and reverts a failure. Each hands on its record (``Landing``, ``Smoke``)."""

from __future__ import annotations

import time

from harness.artifacts import CheckResult, Health, Landing, Prepared, Smoke, Validation
from harness.engine.actions import action
from harness.engine.context import StepContext
from harness.engine.killswitch import check_kill_switch
from harness.errors import StepFailed
from harness.faults import fault_point
from harness.forge.base import Label, set_state
from harness.forge.neutral import Markdown
from harness.kinds import is_revert
from harness.validate import landing
from harness.validate.actions import production_tip
from harness.validate.calibration import calibration_key, record_calibration
from harness.validate.evidence import journeys_on, tree_of
from harness.validate.landing import take_landing
from harness.validate.learned import adopt, candidates, retire

TESTED_SECTION = "\n\n## Tested before landing\n"  # heads comments/pr_tested.md.j2


@action("validate.wait")
def wait(ctx: StepContext, check: CheckResult) -> dict[str, object]:
    """A candidate built on changes ahead in the merge queue is judged only once they have
    finished: wait for them, then its evidence holds only if production's tree is the one it
    was built on (else it is validated again on production as it is now): a failure that a
    change ahead caused is never blamed on it. A candidate built on production itself is
    judged at once (its merge waits for its turn; see ``harness.validate.landing``)."""
    if not check.queued:
        return {"queued": [], "waited_s": 0.0}
    started = time.monotonic()
    waited = _wait_for_those_ahead(ctx)
    sha = _still_built_on(ctx, check, "while it waited its turn")
    return {
        "production_sha": sha,
        "built_on": check.builds_on,
        "queued": check.queued,
        "waited_for": waited,
        "waited_s": round(time.monotonic() - started, 2),
    }


def _wait_for_those_ahead(ctx: StepContext) -> list[int]:
    """Until every change ahead of this one in the merge queue has finished (the kill switch
    and the issue's lease checked between looks): the issues it waited for."""
    services = ctx.services

    def still() -> None:
        check_kill_switch(services)
        ctx.check_lease()

    return landing.wait_for_those_ahead(services.store, ctx.run_id, still)


def _still_built_on(ctx: StepContext, checked: CheckResult, when: str) -> str:
    """Production's tip, if its tree is the one the candidate was built on (production as it
    was, and the changes ahead that have landed since); else validated again, saying why:
    production moved, or the changes ahead it carried did not land."""
    branch, sha = production_tip(ctx)
    built_on = checked.builds_on
    if sha != built_on and tree_of(ctx.services.repo, sha) != tree_of(ctx.services.repo, built_on):
        issues = ", ".join(f"#{n}" for n in checked.queued)
        why = (
            f"{branch} moved to {sha[:12]} {when}, not to what the candidate was built on"
            if sha != checked.production_sha
            else f"the changes it was built on ({issues}) did not land; {branch} did not move"
        )
        raise StepFailed(f"{why}: validating again", {})
    return sha


@action("validate.merge")
def merge(ctx: StepContext, prepare: Prepared, check: CheckResult, decide: Validation) -> Landing:
    """The applier merges with the expected head, only if production did not move; one
    landing at a time: production's landing lease, taken here, is kept until the run ends
    (see ``harness.validate.landing``). The landing is recorded before production's ref
    moves, so the step done again after a kill takes its own merge for what it is."""
    if ctx.lease is None:  # whoever holds the issue gives production's lease back at its end
        raise StepFailed("a merge runs only under the issue's lease ('factory validate')", {})
    _wait_for_those_ahead(ctx)  # landings go in queue order
    take_landing(ctx.services.store, ctx.lease.holder)
    ctx.check_lease()
    forge = ctx.services.forge
    branch = ctx.services.settings.config.production_branch
    merged = landing.landed_by(ctx.services.store, forge, ctx.run_id)
    if merged is not None:  # this run's own merge, made before it was killed: carry on
        forge.sync(branch)
    else:
        _still_built_on(ctx, check, "after validation")
        _name_the_tested_commit(ctx, prepare, check)
        intent = {"issue": ctx.number, "pr": prepare.pr, "branch": prepare.candidate.branch}
        intent |= {"head": prepare.head, "tree": check.tree}
        ctx.services.store.append_event(ctx.run_id, landing.INTENT, intent)
        merged = forge.merge_pr(prepare.pr, prepare.head)
    fault_point("validate.merge.done")
    landed = ctx.services.repo.tree_of(merged)
    if landed is None or landed != check.tree:  # production must be exactly what was tested
        forge.revert_merge(branch, merged, f"Revert factory merge for issue {ctx.number}: untested")
        raise StepFailed(
            f"the merge landed tree {str(landed)[:12]}, not the tested {check.tree[:12]}: reverted",
            {"merge_sha": merged, "tested_tree": check.tree, "landed_tree": landed},
        )
    decision = decide.comment
    forge.post_comment(
        ctx.number,
        f"validate:merged:{prepare.pr}",
        ctx.services.templates.render(
            "comments/merged.md.j2",
            merge_sha=merged,
            tree=landed,
            candidate=check.sha,
            decision=Markdown(decision),  # the validation's own comment, already made safe
        ),
    )
    if is_revert(prepare.candidate.spec.kind):  # the regression issue goes on to triage
        set_state(forge, ctx.number, None, (Label.REGRESSION,))
    else:
        set_state(forge, ctx.number, Label.MERGED)
        forge.set_issue_state(ctx.number, "closed")
    return Landing(
        issue=ctx.number,
        pr=prepare.pr,
        head=prepare.head,
        branch=branch,
        merge_sha=merged,
        tested_tree=check.tree,
        landed_tree=landed,
        tested_by=(check.tests.reused_from or ctx.run_id) if check.tests else None,
    )


def _name_the_tested_commit(ctx: StepContext, prepared: Prepared, checked: CheckResult) -> None:
    """The PR's description names the tested candidate too (a previous one is replaced)."""
    forge = ctx.services.forge
    pr = forge.find_pr(prepared.candidate.branch)
    if pr is None:
        return
    own = pr.body.partition(TESTED_SECTION)[0].rstrip("\n")
    forge.update_pr_body(
        prepared.pr,
        ctx.services.templates.render(
            "comments/pr_tested.md.j2",
            body=Markdown(own),
            candidate=checked.sha,
            production=checked.production_sha,
            head=prepared.head,
            tree=checked.tree,
            tests=checked.tests.model_dump() if checked.tests else None,
            journeys=sum(not j.learned for j in checked.journeys),
            retiring=[j.learned for j in checked.journeys if j.learned and not j.passed],
        ),
    )


@action("validate.smoke")
def smoke(ctx: StepContext, merge: Landing, check: CheckResult) -> Smoke:
    """The hold-out on the new production head, once the learned checks that failed on what
    landed are retired, beside the checks it may learn, each replayed twice (``learned``); a
    failure is reverted by a new commit, and nothing is learned."""
    merged = merge.merge_sha
    retire(ctx, check, merged)
    learning = candidates(ctx, check, merged)
    branch = merge.branch
    before = ctx.services.repo.rev_parse(f"{merged}^1")  # production as it was: setup's network
    trying = [c for c in learning if not c.why]
    result = journeys_on(ctx, merged, "smoke", trusted=before, trying=trying)
    if result.journeys_passed:
        adopt(ctx, learning, result)
        services, holdout = ctx.services, ctx.services.settings.holdout_dir
        if not result.setup_offline_for:
            # the hold-out as it now is (what it tried, adopted) calibrates this tree
            key = calibration_key(services.repo, merged, holdout)
            record_calibration(services.store, key, result)
            if check.tests is not None and check.tests.exit_code == 0:  # on this very tree:
                # production's health, as it keeps it: the tree's suite passed as the
                # candidate, its hold-out here (and what it adopted)
                key = calibration_key(services.repo, merged, holdout, "health")
                green = Health(
                    production_sha=merged,
                    green=True,
                    tests_exit_code=0,
                    journeys=len(result.journeys),
                )
                services.store.set_flag(key, green.model_dump_json())
        return Smoke(**dict(result))
    forge = ctx.services.forge
    current = forge.sync(branch)
    why = f"Revert factory merge for issue {ctx.number}: smoke failed"
    revert = forge.revert_merge(branch, merged, why) if current == merged else current
    forge.set_issue_state(ctx.number, "open")
    # back to work (not a terminal state): implemented again from production, told why
    set_state(forge, ctx.number, Label.ACCEPTED, (Label.REGRESSION,))
    forge.post_comment(
        ctx.number,
        f"validate:regression:{merged}",
        ctx.services.templates.render(
            "comments/regression.md.j2",
            merge_sha=merged,
            revert_sha=revert,
            failed=[j for j in result.journeys if not j.passed],
            run_id=ctx.run_id,
        ),
    )
    return Smoke(**dict(result), reverted=revert)
