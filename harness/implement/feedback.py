"""What went wrong last time: the previous attempt at an issue, for a retry that learns
(docs/gates.md, "Retries start where production is"), read from the store and the repository.

The hold-out stays sealed: of the journeys, an attempt learns only *whether* a hidden journey
that passes on production failed on its change — never a journey's file, name, steps, values
or what its page showed — and only when journeys ran and one failed."""

from __future__ import annotations

from typing import Any

from harness.artifacts import (
    ANY_RUN,
    Assignment,
    Commit,
    GateReport,
    Implemented,
    Plan,
    PreviousAttempt,
    Review,
    Tested,
    Validation,
    Worktree,
)
from harness.config.testfiles import clipped
from harness.engine.records import RunRecords
from harness.git.repo import GitRepo
from harness.store.db import Store
from harness.store.records import Run
from harness.tools.files import cut

MAX_TEST_OUTPUT = 3000
MAX_SUMMARY = 1500
# characters of one message (a gate's evidence, a finding, a criterion): a guard against a
# runaway text only — the gates bound how many findings they list, never the words of one, so
# that the advice in a finding reaches the next attempt whole
MAX_EVIDENCE = 12_000
MAX_CRITERIA = 12
MAX_FINDINGS = 10
MAX_DIFF = 12_000  # characters of a conflicting change's diff shown to its next attempt
_SEALED_GATES = ("journeys", "validator", "validator_evidence")  # told apart, in their words
_RETRIES = ("human.retry", "human.approve")  # a person sending an issue back


def previous_attempt(
    store: Store, repo: GitRepo, issue: int, current_run: str, holdout: str
) -> PreviousAttempt | None:
    """The newest finished implement run of ``issue`` other than ``current_run`` whose branch
    still exists, with its evidence, read by type; None for a first attempt. ``holdout``:
    the hold-out's digest now (only whether it changed is told, never what)."""
    for run in store.list_runs(limit=20, workflow="implement", issue=issue):
        if run.id == current_run or run.status not in ("succeeded", "failed"):
            continue
        records = RunRecords(store.steps(run.id))
        tree, commit = records.newest(Worktree), records.newest(Commit)
        head = (
            commit.head if commit else repo.rev_parse(f"refs/heads/{tree.branch}") if tree else None
        )
        if tree is None or head is None:
            continue
        found = _attempt(store, repo, issue, run, records, tree, head)
        prepared = records.newest(Assignment)
        judged = (found.judged or (prepared.holdout if prepared else None)) if holdout else None
        people = [e for e in store.events(kind="human.", issue=issue) if e.ts >= run.started_at]
        by = [str(e.data.get("actor"))[:60] for e in people if e.kind in _RETRIES]
        return found.evolve(
            tier=prepared.tier if prepared else 0,
            retried_by=f"a person ({by[-1]})" if by else "",
            holdout_changed=bool(judged) and judged != holdout,
        )
    return None


def _implementation_evidence(
    run_id: str, records: RunRecords, tree: Worktree, head: str
) -> dict[str, Any]:
    """What the implement run itself showed (review findings, test output, a declined plan or
    change, failed gates), as the fields every ``PreviousAttempt`` shares."""
    review = records.newest(Review)
    asked = review.findings if review and review.verdict == "request_changes" else []
    tests = records.every(Tested)
    failed = tests[-1][1] if tests and tests[-1][0].status == "failed" else None
    said = [s for s in (records.newest(Plan), records.newest(Implemented)) if s]
    declined = next((s.reason or "no reason given" for s in said if s.outcome == "blocked"), "")
    gated = records.newest(GateReport)
    return {
        "implement_run": run_id,
        "branch": tree.branch,
        "base_sha": tree.base_sha,
        "head": head,
        # what the branch holds beyond production: the attempt's own commits, or at least
        # the earlier work it started from
        "committed": head != (tree.start_sha or tree.base_sha),
        "resume": head != tree.base_sha,
        "findings": [
            {
                "severity": f.severity,
                "description": cut(f.description, MAX_EVIDENCE),
                "file": f.file or "",
            }
            for f in asked[:MAX_FINDINGS]
        ],
        "test_output": clipped(failed.output, MAX_TEST_OUTPUT) if failed else "",
        "declined": cut(declined, MAX_SUMMARY),
        "gates_failed": [
            {"name": g.name, "evidence": cut(g.evidence, MAX_EVIDENCE)}
            for g in (gated.gates if gated else [])
            if not g.passed
        ],
    }


def _attempt(
    store: Store,
    repo: GitRepo,
    issue: int,
    run: Run,
    records: RunRecords,
    tree: Worktree,
    head: str,
) -> PreviousAttempt:
    common = _implementation_evidence(run.id, records, tree, head)
    validation = None
    if run.status == "succeeded":  # the newest decided validation of the PR it opened
        found = store.artifacts(Validation, issue, run_status=ANY_RUN, limit=50)
        validation = next((v for _, v in found if v.implement_run == run.id), None)
    if validation is None:
        ended = "at implementation" if run.status == "failed" else "before its validation decided"
        return PreviousAttempt(automatic=False, fix_attempts=0, ended=ended, **common)
    verdict = validation.validator
    conflict = validation.conflict or ""  # production moved and the change no longer merges
    if conflict:  # taken up again merged onto the new production: its diff says what it was
        common["diff"] = repo.diff_text(common["base_sha"], head, max_bytes=MAX_DIFF)
    if not common["test_output"] and validation.tests_exit_code not in (None, 0):
        common["test_output"] = clipped(validation.tests_output, MAX_TEST_OUTPUT)
    automatic = validation.route == "retry"
    gated = records.newest(GateReport)
    carried = gated.fix_attempts if gated else 0
    spent = 0 if conflict else 1  # production moving under it is not the change's fault
    judged = [g for g in validation.gates if g.name == "validator_evidence" and not g.passed]
    reverted = validation.route == "merge"  # back here only when smoke failed after it
    common["resume"] = common["resume"] and not reverted  # a reverted merge is in history
    common["gates_failed"] = [
        {"name": g.name, "evidence": cut(g.evidence, MAX_EVIDENCE)}
        for g in validation.gates
        if not g.passed and g.name not in _SEALED_GATES
    ]
    return PreviousAttempt(
        automatic=automatic,
        fix_attempts=carried + spent if automatic else 0,
        ended=_ended(validation.route, reverted, conflict),
        conflict=conflict,
        judged=validation.holdout,
        route=validation.route,
        verdict=verdict.verdict if verdict else None,
        score=verdict.score if verdict else None,
        summary=cut(verdict.summary if verdict else "", MAX_SUMMARY),
        criteria=[
            c.evolve(evidence=cut(c.evidence, MAX_EVIDENCE))
            for c in (verdict.criteria if verdict else [])[:MAX_CRITERIA]
        ],
        holdout_failed=reverted or (not conflict and not validation.journeys_passed),
        refused=judged[0].evidence if judged else "",
        **common,
    )


def _ended(route: str, reverted: bool, conflict: str) -> str:
    """Where a validated attempt was refused, in a few words that say only what happened."""
    if reverted:
        return "after it merged: the hold-out failed on production and the merge was reverted"
    if conflict:
        return "at validation: production had moved and the change no longer merged with it"
    return f"at validation (route {route})"
