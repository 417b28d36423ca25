"""The implement workflow's actions. Only these (the applier) write to git and the forge."""

from __future__ import annotations

from pathlib import Path

from harness.analysers import warm_up
from harness.artifacts import (
    Assignment,
    ChangeInputs,
    Coded,
    Commit,
    Failed,
    GateReport,
    Implemented,
    IssueSpec,
    Plan,
    PrCandidate,
    Review,
    SetupRun,
    Tested,
    Worktree,
)
from harness.config.models import ESCALATED
from harness.engine.actions import action
from harness.engine.context import StepContext
from harness.engine.records import RunRecords
from harness.errors import ErrorKind, FactoryError, GitError, StepFailed
from harness.faults import fault_point
from harness.forge import neutral
from harness.forge.base import Label, set_state
from harness.forge.neutral import clip
from harness.git import shape
from harness.git.branches import branch_name
from harness.git.repo import GitRepo
from harness.git.worktrees import WorktreeManager
from harness.implement import gates as g
from harness.implement.feedback import previous_attempt
from harness.implement.security import security_gate
from harness.implement.spec import forge_spec, reverted_change, triage_spec
from harness.kinds import is_revert
from harness.sandbox.policy import prepare_worktree, setup_allow
from harness.validate.calibration import holdout_digest
from harness.validate.evidence import drivers_ready, journeys_on, setup_failed
from harness.validate.route import FOR_A_PERSON
from harness.validate.suite import flakes

# a revert's gates: what holds of any tree that lands (docs/heal.md, "Act"); its tests, kept
# tests and journeys are judged again by validation
REVERT_GATES = ("protected_paths", shape.TREE_SHAPE, "secrets", "tests_green")


def manager(ctx: StepContext) -> WorktreeManager:
    services = ctx.services
    return WorktreeManager.of(services.repo, services.settings.state_dir)


def checkout(ctx: StepContext, info: Worktree) -> Path:
    """The run's worktree, re-created from its branch if it vanished (e.g. after a reboot)."""
    path = Path(info.path)
    return path if path.is_dir() else manager(ctx).create(info.branch, info.base_sha)


@action("implement.prepare", consumes=(IssueSpec,))
def prepare(ctx: StepContext, inputs: ChangeInputs) -> Assignment:
    services = ctx.services
    forge = services.forge
    spec = inputs.spec  # one the factory wrote itself: a heal's revert
    spec = spec or triage_spec(services.store, ctx.number)
    spec = spec or forge_spec(forge, ctx.number)
    if spec is None or spec.decision != "accept":
        raise FactoryError(f"issue {ctx.number} has no accepted triage decision")
    current = forge.get_issue(ctx.number)
    forge.remove_labels(ctx.number, [Label.FAILED, Label.NEEDS_HUMAN])
    forge.add_labels(ctx.number, [Label.IN_PROGRESS])
    holdout = holdout_digest(services.settings.holdout_dir)
    previous = previous_attempt(services.store, services.repo, ctx.number, ctx.run_id, holdout)
    # a rebase (production moved under it) goes on with the model that wrote the change: only
    # the change's own refusal moves it up a tier
    tier = previous.tier + (not previous.conflict) if previous else 0
    config = services.settings.config
    models = {role: config.role_model(role, tier).model for role in ESCALATED}
    return spec.evolve(
        previous=previous,
        holdout=holdout,
        tier=tier,
        models=models,
        reverted=reverted_change(forge, current),
    )


@action("implement.worktree")
def make_worktree(ctx: StepContext, prepare: Assignment) -> Worktree:
    repo = ctx.services.repo
    production = ctx.services.settings.config.production_branch
    branch = branch_name(ctx.number, prepare.title, salt=ctx.run_id)
    base, existing = repo.commits(f"refs/heads/{production}", f"refs/heads/{branch}")
    if base is None:
        raise FactoryError(f"production branch {production!r} does not exist")
    previous = prepare.previous
    # made on production; the setup step moves it to where the work starts after setting up
    # through the egress proxy on production's tree (a change's own code gets no network)
    path = str(manager(ctx).create(branch, base, exists=existing is not None))
    made = Worktree(path=path, branch=branch, base_sha=base, start_sha=base)
    if previous is None or not previous.resume or repo.rev_parse(previous.head) is None:
        return made
    # a fix, not a re-roll, on production as it is now (whoever retried it): the refused
    # change merged onto it, each conflict left between git's markers for the implementer
    head, continues = previous.head, previous.branch
    message = f"Issue {ctx.number}: {continues} on {base[:12]}"
    start, conflicts = repo.conflicted_commit(base, head, message)
    return made.evolve(start_sha=start, conflicts=conflicts, continues=continues)


@action("implement.setup")
def setup(ctx: StepContext, worktree: Worktree) -> SetupRun:
    """``commands.setup`` in the sandbox, on the production tree before any agent works,
    through the egress proxy to the allowed hosts; what it creates is never committed."""
    commands = ctx.services.settings.config.commands
    path = checkout(ctx, worktree)
    prepared = prepare_worktree(ctx.services.settings, path, worktree.base_sha, worktree.start_sha)
    runs = [r for r in (prepared.online, prepared.offline) if r is not None]
    ctx.timings["subprocess_s"] += sum(r.duration_s for r in runs)
    outputs = SetupRun(
        command=commands.setup,
        exit_code=runs[-1].exit_code if runs else 0,
        output=prepared.output,
        network=prepared.network,
        artifacts=GitRepo(path).untracked() if commands.setup else [],  # run or copied in
    )
    if prepared.problem is not None:
        raise setup_failed(ctx, prepared, outputs)
    return outputs


@action("implement.test")
def run_tests(
    ctx: StepContext, worktree: Worktree, setup: SetupRun | None, prepare: Assignment
) -> Tested:
    """``commands.test`` on the tree the agents left, as a candidate's tests run: on a clean
    checkout of it (a commit no ref names) in a fresh sandbox, never in their worktree (which
    may hold files the commit would not); a pass there stands for the candidate of the same
    tree (docs/testing.md)."""
    commands = ctx.services.settings.config.commands
    warm_up(ctx.services.settings)  # the gates' analysers start while the suite runs,
    drivers_ready(ctx.services)  # and the browser's drivers validation takes
    made = setup.artifacts if setup else []  # never committed
    tree = GitRepo(checkout(ctx, worktree)).stage_tree(exclude=made)
    sha = ctx.services.repo.commit_of(tree, worktree.base_sha, f"Issue {ctx.number}: tests")
    if prepare.previous and (
        left := g.conflicts_left(ctx.services.repo.tree_change(worktree.base_sha, sha)[1])
    ):  # a retry starts on git's markers: resolved before its tests run, or sent back
        said = f"git's conflict markers left in {', '.join(left[:5])}: resolve each conflict"
        raise StepFailed(said, {"conflicts": left})
    ran = journeys_on(
        ctx,
        sha,
        "implement",
        trusted=worktree.base_sha,
        tests=True,
        only=frozenset(),
        reuse=flakes(ctx.services.store),
    )
    outputs = ran.tests
    assert outputs is not None
    if outputs.again and outputs.limit_hit == "time":  # a person, never a fix attempt
        why = f"the suite does not finish in {commands.test_timeout_s:.0f} s (time limit, twice)"
        raise StepFailed(why, outputs, ErrorKind.GATE)
    if outputs.exit_code != 0:
        raise StepFailed(
            f"tests failed: `{commands.test}` exited {outputs.exit_code}", outputs, ErrorKind.TESTS
        )
    return outputs


@action("implement.commit")
def commit(ctx: StepContext, worktree: Worktree, prepare: Assignment, test: Tested) -> Commit:
    ctx.check_lease()
    staged = Path(worktree.path).is_dir()  # the test step staged what it ran on, unless re-made
    repo = GitRepo(checkout(ctx, worktree))
    subject = neutral.subject(prepare.title)  # a commit message is read by GitHub too
    message = f"{subject}\n\nFactory change for issue {ctx.issue} (run {ctx.run_id})."
    tested = test.tree  # commit what the tests ran on, nothing made since
    # a retry's work is one commit on production: the merge it started from, with any
    # conflict markers, stays out of the history
    onto = worktree.base_sha if worktree.conflicts is not None else None
    head = repo.commit_tree(tested, message, parent=onto, staged=staged) or repo.rev_parse("HEAD")
    if head is None or head == worktree.base_sha:
        raise StepFailed("the implementer changed nothing", {"head": head})
    previous = prepare.previous
    # unless production moved on and the change that no longer merged now does
    if head == worktree.start_sha and previous and previous.automatic and not previous.conflict:
        # the validation asked for a fix; after a person's retry (a hold-out updated, a broken
        # baseline repaired) the same change may be right and is validated again
        raise StepFailed(
            "the implementer changed nothing since the refused attempt", {"head": head}
        )
    fault_point("implement.commit.made")
    return Commit(head=head, base=worktree.base_sha, tree=tested)  # HEAD's tree: the tested one


def fix_attempts(ctx: StepContext, prepare: Assignment) -> int:
    """Fix attempts so far: this run's (a failed test run or a review asking for changes sends
    the implementer back: each change after its first) plus those carried from the refused
    attempts it continues; a person's retry starts a new count."""
    changes = RunRecords(ctx.records).every(Implemented)
    in_run = max(len(changes) - 1, 0)
    return in_run + (prepare.previous.fix_attempts if prepare.previous else 0)


@action("implement.declined")
def declined(ctx: StepContext, plan: Plan | None, code: Coded | None) -> dict[str, object]:
    """An agent may decline (``outcome: blocked`` with a reason): the request cannot be done
    within the mission and the rules. The run stops and a person decides (needs-human)."""
    of = ctx.step.params.get("step", "")
    said = {"plan": plan, "code": code}.get(of)
    if said is None or said.outcome != "blocked":
        return {"blocked": False}
    reason = clip(said.reason or "no reason given", limit=600)
    role = {"plan": "planner", "code": "implementer"}[of]  # ``said``: one of the two
    raise StepFailed(
        f"the {role} declined: {reason}", {"blocked": True, "reason": reason}, ErrorKind.DECLINED
    )


@action("implement.gates")
def gates(
    ctx: StepContext,
    prepare: Assignment,
    commit: Commit,
    test: Tested | None,
    review: Review | None,
    second_review: Review | None,
) -> GateReport:
    services = ctx.services
    rules = services.settings.governance.rules
    limits = services.settings.config.gates
    repo = services.repo
    attempts = fix_attempts(ctx, prepare)
    head = commit.head
    base = commit.base
    # the change read once, its patch with it (the secrets gate reads every added line): base
    # is an ancestor of head (the commit step committed onto it), so the diff from their merge
    # base is the diff between the two trees, the one the reviewer read (the tested tree)
    changes, patch = repo.tree_change(base, head)
    protected = list(rules.protected_paths)
    modes = {c.path: (c.old_mode, c.new_mode) for c in changes}
    paths = sorted(modes)
    added = [c.path for c in changes if c.status == "A"]
    commands = services.settings.config.commands
    results = [
        g.changed_lines_gate(changes, rules.max_changed_lines),
        g.size_gate(changes, limits.max_added_bytes, limits.max_file_bytes),
        g.protected_paths_gate(paths, protected),
        shape.gate(shape.shape_problems(shape.read_tree(repo, head), modes, protected)),
        g.secrets_gate(patch),
        g.tests_gate(test, commit.tree),
        g.fix_attempts_gate(attempts, rules.max_fix_attempts),
        g.budget_gate(services.store.spend(issue=ctx.number), rules.budgets.per_issue_usd),
        security_gate(services.settings, repo, base, head, paths, rules.security),
        g.setup_code_gate(paths, commands.setup_inputs, commands.setup),
        g.network_allow_gate(added, patch, setup_allow(services.settings)),
    ]
    if is_revert(prepare.kind):  # a tree production held: nobody wrote it, nobody reviews it
        results = [r for r in results if r.name in REVERT_GATES]
    elif (second := services.settings.config.review.second) is not None:
        first = f"reviewer ({prepare.models.get('reviewer')})"
        lens = f"second reviewer ({second.model}, {second.lens} lens)"
        results.append(g.reviews_gate([(first, review), (lens, second_review)]))
    passed = all(r.passed for r in results if r.name not in FOR_A_PERSON)  # those: a person
    report = GateReport(gates=results, passed=passed, fix_attempts=attempts)
    if not report.passed:
        raise StepFailed(report.refusal(), report, ErrorKind.GATE)
    return report


def _pr_body(
    ctx: StepContext,
    prepare: Assignment,
    plan: Plan | None,
    code: Coded | None,
    test: Tested | None,
    commit: Commit,
    review: Review | None,
    gates: GateReport,
) -> str:
    services = ctx.services
    totals = services.store.run_totals(ctx.run_id)
    # the change the gates read (``gates``: base is an ancestor of head), kept by the process
    landed = {c.path for c in services.repo.tree_change(commit.base, commit.head)[0]}
    ignored = code.ignored if code else []
    return services.templates.render(
        "comments/pr.md.j2",
        issue=ctx.issue,
        run_id=ctx.run_id,
        spec={  # the issue's title is kept as written inbound: neutralised on the way out
            **prepare.model_dump(mode="json"),
            "title": clip(prepare.title, limit=300),
        },
        plan=clip(plan.plan if plan else "", limit=3000),
        summary=clip(code.summary if code else "", limit=2000),
        left_out=[p for p in ignored if p not in landed],
        test=test.model_dump(mode="json") if test else {},
        review_verdict=review.verdict if review else None,
        review_score=review.score if review else None,
        findings=[
            {**f.model_dump(), "description": clip(f.description, limit=300)}
            for f in (review.findings if review else [])
        ],
        gates=[r.model_dump(mode="json") for r in gates.gates],
        fix_attempts=gates.fix_attempts,
        totals=totals,
        governance=services.settings.governance.hashes,
    )


@action("implement.open_pr")
def open_pr(
    ctx: StepContext,
    prepare: Assignment,
    worktree: Worktree,
    plan: Plan | None,
    code: Coded | None,
    test: Tested | None,
    commit: Commit,
    review: Review | None,
    second_review: Review | None,
    gates: GateReport,
) -> PrCandidate:
    ctx.check_lease()
    services = ctx.services
    if services.repo.rev_parse(f"refs/heads/{worktree.branch}") != commit.head:
        raise StepFailed(
            f"branch {worktree.branch} moved after the gates passed", {}, ErrorKind.GIT
        )
    record_ci = getattr(services.forge, "record_ci", None)
    if record_ci is not None:  # the local forge's CI is the sandboxed test run on this commit
        record_ci(commit.head, "success")
    title = f"{neutral.plain(prepare.title, limit=80)} (issue {ctx.number})"
    body = _pr_body(ctx, prepare, plan, code, test, commit, review, gates)
    production = services.settings.config.production_branch
    pr = services.forge.open_pr(ctx.number, worktree.branch, production, title, body)
    fault_point("implement.pr.created")
    services.forge.remove_labels(ctx.number, [Label.IN_PROGRESS])
    services.forge.add_labels(ctx.number, [Label.NEEDS_REVIEW])
    failed = [g.name for g in gates.gates if not g.passed]  # gates for a person
    said = services.templates.render(
        "comments/pr_opened.md.j2", pr=pr.number, branch=worktree.branch, failed=failed
    )
    services.forge.post_comment(ctx.number, f"implement:pr:{worktree.branch}", said)
    manager(ctx).remove(
        Path(worktree.path)
    )  # the branch holds the work; validation checks out anew
    return PrCandidate(
        pr=pr.number,
        branch=worktree.branch,
        head=commit.head,
        base=commit.base,
        gates=gates.gates,
        fix_attempts=gates.fix_attempts,
        implement_run=ctx.run_id,
        spec=IssueSpec.from_outputs(prepare.model_dump()),
        triage_run=prepare.triage_run,
        findings=[f for said in (review, second_review) if said for f in said.findings],
    )


NEEDS_HUMAN = frozenset(
    kind.value
    for kind in (
        ErrorKind.DECLINED,  # an agent declined: a person decides
        ErrorKind.GATE,  # a limit computed in code stopped the work
        ErrorKind.LEASE,  # another runner took the issue, or ours was lost
        ErrorKind.BUDGET,
        ErrorKind.QUOTA,
    )
)


def _outcome_label(ctx: StepContext) -> str:
    """needs-human when a limit or a gate stopped the work; failed when the work failed.
    Read from each failure's kind, never from its message."""
    failures = ctx.failures
    kinds = {f.error_kind for f in failures.values()}
    if kinds & NEEDS_HUMAN or any(f.outputs.get("fatal") for f in failures.values()):
        return Label.NEEDS_HUMAN
    return Label.FAILED


def _keep_tested(ctx: StepContext, info: Worktree, commit: Commit | None) -> bool:
    """Whether the run's branch holds work beyond production. If the run committed nothing,
    the tree its tests last ran on is committed first, so a person's ``factory retry``
    continues from the work the test output it is given describes."""
    if not info.branch:
        return False
    tested = RunRecords(ctx.records).tested()
    if commit is None and tested and Path(info.path).is_dir():
        message = f"Unfinished: not proposed (issue {ctx.number}, run {ctx.run_id})"
        GitRepo(Path(info.path)).commit_tree(tested[-1].tree, message)
    head = ctx.services.repo.rev_parse(f"refs/heads/{info.branch}")
    return head not in (None, info.base_sha)


@action("implement.fail")
def fail(ctx: StepContext, worktree: Worktree | None, commit: Commit | None) -> Failed:
    """Label the issue and explain why, once per run; the branch is kept for inspection."""
    forge = ctx.services.forge
    label = _outcome_label(ctx)
    failure = ctx.last_failure()
    failed = list(ctx.failures.values())
    test = next((f.outputs for f in reversed(failed) if f.error_kind == "tests"), {})
    gates_failed = [  # as the comment shows them, whatever fields a gate's evidence lacks
        {"name": str(x.get("name") or "a gate"), "evidence": str(x.get("evidence") or "")}
        for f in failed
        if f.error_kind == ErrorKind.GATE.value
        for x in f.outputs.get("gates") or []
        if isinstance(x, dict) and not x.get("passed")
    ]
    set_state(forge, ctx.number, label)
    try:
        kept: bool | None = _keep_tested(ctx, worktree, commit) if worktree else False
    except GitError:  # git refused (its configuration moved): the comment says less
        kept = None
    body = ctx.services.templates.render(
        "comments/implement_failed.md.j2",
        label=label,
        failure=failure,
        run_id=ctx.run_id,
        branch=worktree.branch if worktree else None,
        kept=kept,
        test_output=clip(str(test.get("output", ""))[-1500:], limit=1600),
        gates=gates_failed,
    )
    forge.post_comment(ctx.number, f"implement:{label}:{ctx.run_id}", body)
    if worktree and worktree.path:  # the branch is kept; the checkout is not
        manager(ctx).remove(Path(worktree.path))
    return Failed(label=label, reason=failure.error)
