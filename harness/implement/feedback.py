"""What went wrong last time: the previous attempt at an issue, for a retry that learns
(docs/gates.md, "Retries start where production is"), read from the store and the repository.

The hold-out stays sealed: of the journeys, an attempt learns only *whether* a hidden journey
that passes on production failed on its change — never a journey's file, name, steps, values
or what its page showed — and only when journeys ran and one failed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from harness.artifacts import ANY_RUN, Validation
from harness.git.repo import GitRepo
from harness.store.db import Store
from harness.store.records import Run

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


@dataclass(frozen=True)
class Criterion:
    criterion: str
    result: str
    evidence: str


@dataclass(frozen=True)
class PreviousAttempt:
    """The newest finished attempt at an issue and what the evidence said about it."""

    implement_run: str
    branch: str
    base_sha: str
    head: str
    automatic: bool  # the factory itself routed it to a retry (else a person re-queued it)
    resume: bool  # continue from its branch's work (not after a merge that was reverted)
    committed: bool  # the branch holds commits of this attempt's own (else only its start)
    fix_attempts: int  # the fix attempts this new attempt starts with
    ended: str  # where it was refused, in a few words
    route: str | None = None  # the validation's route, when it was validated
    verdict: str | None = None
    score: float | None = None
    summary: str = ""
    criteria: list[Criterion] = field(default_factory=list)
    holdout_failed: bool = False
    gates_failed: list[dict[str, str]] = field(default_factory=list)
    findings: list[dict[str, str]] = field(default_factory=list)
    test_output: str = ""
    declined: str = ""
    conflict: str = ""  # it no longer merged with production: how (its files, in git's words)
    diff: str = ""  # the refused change, for a conflict: it is merged onto the new production
    tier: int = 0  # its ``Assignment.tier``: the next attempt runs one above it
    retried_by: str = ""  # a person who sent it back since (``factory retry``, an approval)
    refused: str = ""  # why the validator_evidence gate refused the verdict it was given
    holdout_changed: bool = False  # the hold-out's digest differs from the one it was judged by
    judged: str | None = None  # that digest, as its validation recorded it

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _clip(text: Any, limit: int) -> str:
    value = str(text or "")
    return value if len(value) <= limit else value[:limit] + " …[cut]"


def _tail(text: Any, limit: int) -> str:
    value = str(text or "")
    return value if len(value) <= limit else "[…cut] " + value[-limit:]


def previous_attempt(
    store: Store, repo: GitRepo, issue: int, current_run: str, holdout: str = ""
) -> PreviousAttempt | None:
    """The newest finished implement run of ``issue`` other than ``current_run`` whose branch
    still exists, with its evidence; None for a first attempt. ``holdout``: the hold-out's
    digest now (only whether it changed is told, never what)."""
    for run in store.list_runs(limit=20, workflow="implement", issue=issue):
        if run.id == current_run or run.status not in ("succeeded", "failed"):
            continue
        records = store.steps(run.id)
        done = {s.step_id: s.outputs or {} for s in records if s.status == "succeeded"}
        tree = done.get("worktree")
        if not tree:
            continue
        head = done.get("commit", {}).get("head") or repo.rev_parse(f"refs/heads/{tree['branch']}")
        if head is None:
            continue
        found = _attempt(store, repo, issue, run, records, done, tree, str(head))
        judged = (found.judged or done.get("prepare", {}).get("holdout")) if holdout else None
        people = [e for e in store.events(kind="human.", issue=issue) if e.ts >= run.started_at]
        by = [str(e.data.get("actor"))[:60] for e in people if e.kind in _RETRIES]
        return replace(
            found,
            tier=int(done.get("prepare", {}).get("tier") or 0),
            retried_by=f"a person ({by[-1]})" if by else "",
            holdout_changed=bool(judged) and judged != holdout,
        )
    return None


def _implementation_evidence(
    run_id: str,
    records: list[Any],
    done: dict[str, dict[str, Any]],
    tree: dict[str, Any],
    head: str,
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """What the implement run itself showed (review findings, test output, a declined plan,
    failed gates), as the fields every ``PreviousAttempt`` shares, and its failed gates."""
    failed = {
        s.step_id: {**(s.outputs or {}), "error": s.error} for s in records if s.status == "failed"
    }
    reviews = [s.outputs or {} for s in records if s.step_id == "review" and s.outputs]
    findings = [
        {
            "severity": str(f.get("severity", "")),
            "description": _clip(f.get("description"), MAX_EVIDENCE),
            "file": str(f.get("file") or ""),
        }
        for f in (reviews[-1].get("findings", []) if reviews else [])
        if reviews[-1].get("verdict") == "request_changes"
    ][:MAX_FINDINGS]
    test = failed.get("test") if "test" in failed and "test" not in done else None
    declined = next(
        (str(failed[k].get("reason", "")) for k in ("plan_blocked", "code_blocked") if k in failed),
        "",
    )
    gates = [
        {"name": str(g["name"]), "evidence": _clip(g.get("evidence"), MAX_EVIDENCE)}
        for g in failed.get("gates", {}).get("gates", [])
        if not g.get("passed")
    ]
    base = str(tree["base_sha"])
    common: dict[str, Any] = {
        "implement_run": run_id,
        "branch": str(tree["branch"]),
        "base_sha": base,
        "head": head,
        # what the branch holds beyond production: the attempt's own commits, or at least
        # the earlier work it started from
        "committed": head != str(tree.get("start_sha") or base),
        "resume": head != base,
        "findings": findings,
        "test_output": _tail(test.get("output"), MAX_TEST_OUTPUT) if test else "",
        "declined": _clip(declined, MAX_SUMMARY),
    }
    return common, gates


def _attempt(
    store: Store,
    repo: GitRepo,
    issue: int,
    run: Run,
    records: list[Any],
    done: dict[str, dict[str, Any]],
    tree: dict[str, Any],
    head: str,
) -> PreviousAttempt:
    common, gates = _implementation_evidence(run.id, records, done, tree, head)
    validation = None
    if run.status == "succeeded":  # the newest decided validation of the PR it opened
        found = store.artifacts(Validation, issue, run_status=ANY_RUN, limit=50)
        validation = next((v for _, v in found if v.implement_run == run.id), None)
    if validation is None:
        ended = "at implementation" if run.status == "failed" else "before its validation decided"
        return PreviousAttempt(
            automatic=False, fix_attempts=0, ended=ended, gates_failed=gates, **common
        )
    verdict = validation.validator
    conflict = validation.conflict or ""  # production moved and the change no longer merges
    if conflict:  # taken up again merged onto the new production: its diff says what it was
        common["diff"] = repo.diff_text(common["base_sha"], head, max_bytes=MAX_DIFF)
    if not common["test_output"] and validation.tests_exit_code not in (None, 0):
        common["test_output"] = _tail(validation.tests_output, MAX_TEST_OUTPUT)
    automatic = validation.route == "retry"
    carried = int(done.get("gates", {}).get("fix_attempts", 0))
    spent = 0 if conflict else 1  # production moving under it is not the change's fault
    judged = [g for g in validation.gates if g.name == "validator_evidence" and not g.passed]
    reverted = validation.route == "merge"  # back here only when smoke failed after it
    common["resume"] = common["resume"] and not reverted  # a reverted merge is in history
    return PreviousAttempt(
        automatic=automatic,
        fix_attempts=carried + spent if automatic else 0,
        ended=_ended(validation.route, reverted, conflict),
        conflict=conflict,
        judged=validation.holdout,
        route=validation.route,
        verdict=verdict.verdict if verdict else None,
        score=verdict.score if verdict else None,
        summary=_clip(verdict.summary if verdict else "", MAX_SUMMARY),
        criteria=[
            Criterion(_clip(c.criterion, MAX_EVIDENCE), c.result, _clip(c.evidence, MAX_EVIDENCE))
            for c in (verdict.criteria if verdict else [])[:MAX_CRITERIA]
        ],
        holdout_failed=reverted or (not conflict and not validation.journeys_passed),
        gates_failed=[
            {"name": g.name, "evidence": _clip(g.evidence, MAX_EVIDENCE)}
            for g in validation.gates
            if not g.passed and g.name not in _SEALED_GATES
        ],
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
