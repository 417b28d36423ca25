"""The validate workflow's actions: calibrate, check, decide in code, merge, smoke-test."""

from __future__ import annotations

import json
import time
from typing import Any

import yaml

from harness.engine.actions import action
from harness.engine.context import StepContext
from harness.engine.runner import check_kill_switch
from harness.errors import FactoryError, StepFailed
from harness.faults import fault_point
from harness.model.scripted import ScriptedModel
from harness.paths import validators_dir
from harness.triage.outbound import sanitize_outbound
from harness.validate.evidence import journeys_on


def _production(ctx: StepContext) -> tuple[str, str]:
    branch = ctx.services.settings.config.production_branch
    return branch, ctx.services.forge.sync(branch)  # on GitHub: fetched first


@action("validate.prepare")
def prepare(ctx: StepContext) -> dict[str, Any]:
    """The PR to validate and what implement proved about it, from the store."""
    assert ctx.issue is not None
    store = ctx.services.store
    for run in store.list_runs(limit=20, workflow="implement", issue=ctx.issue):
        if run.status != "succeeded":
            continue
        steps = {s.step_id: s.outputs for s in store.steps(run.id) if s.status == "succeeded"}
        pr = ctx.services.forge.find_pr(steps["pr"]["branch"])
        if pr is None or pr.state != "open":
            continue
        head = ctx.services.forge.sync(pr.branch)  # on GitHub: what the PR holds now
        return {
            "pr": pr.number,
            "branch": pr.branch,
            "head": head,
            "gated_head": steps["commit"]["head"],
            "gates": steps["gates"]["gates"],
            "spec": steps["prepare"],
            "implement_run": run.id,
        }
    raise FactoryError(f"issue {ctx.issue} has no open pull request from the factory")


@action("validate.ci")
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


@action("validate.baseline")
def baseline(ctx: StepContext) -> dict[str, Any]:
    """Calibration: the hold-out must pass on production before it can judge a change."""
    _, sha = _production(ctx)
    cached = ctx.services.store.get_flag(f"baseline:{sha}")
    result = json.loads(cached) if cached else journeys_on(ctx, sha, "baseline")
    if not cached:
        ctx.services.store.set_flag(f"baseline:{sha}", json.dumps(result))
    if not result["journeys_passed"]:
        failed = [j["name"] for j in result["journeys"] if not j["passed"]]
        raise StepFailed(
            f"the hold-out fails on production {sha[:12]}: {', '.join(failed)}", result
        )
    return {**result, "production_sha": sha, "cached": bool(cached)}


def _validator_request(ctx: StepContext) -> dict[str, Any]:
    services, spec = ctx.services, ctx.outputs["prepare"]["spec"]
    settings = services.settings
    model = getattr(services.model, "inner", services.model)
    provider: dict[str, Any] = {"type": model.kind, **settings.config.provider.model_dump()}
    provider["type"] = model.kind
    if isinstance(model, ScriptedModel):
        provider["rules"] = [r.model_dump() for r in model.rules]
    seal = {
        "title": spec["title"],
        "body": spec["body"],
        "criteria": spec["acceptance_criteria"],
        "number": ctx.issue,
    }
    spent = services.store.spend(issue=ctx.issue)
    definition = yaml.safe_load((validators_dir() / "sealed_browser.yaml").read_text("utf-8"))
    return {
        "model": settings.config.models.validator,
        "thinking": settings.config.role_model("validator").thinking,
        "effort": settings.config.role_model("validator").effort,
        "governance": settings.governance.texts(),
        "instructions": services.templates.render("validators/prompts/validate.md.j2"),
        "task": services.templates.render("prompts/validate_task.md.j2", **seal),
        "max_turns": int(definition["max_turns"]),
        "budget_usd": max(0.0, settings.governance.rules.budgets.per_issue_usd - spent),
        "provider": provider,
    }


@action("validate.check")
def check(ctx: StepContext) -> dict[str, Any]:
    """Journeys on the PR head, then the sealed validator on the same running app."""
    prepared = ctx.outputs["prepare"]
    if prepared["head"] != prepared["gated_head"]:
        raise StepFailed("the PR head changed after its gates passed; they no longer hold", {})
    return journeys_on(ctx, prepared["head"], "candidate", _validator_request(ctx))


def route(ctx: StepContext) -> tuple[str, float, list[dict[str, Any]]]:
    """merge | needs_review | retry | failed, computed from evidence; the model can only lower."""
    rules = ctx.services.settings.governance.rules
    prepared, checked = ctx.outputs["prepare"], ctx.outputs["check"]
    verdict = checked.get("validator", {}).get("output") or {}
    score = float(verdict.get("score", 0.0)) if verdict.get("verdict") == "pass" else 0.0
    if not checked["journeys_passed"]:
        score = 0.0  # a failed journey is never rescued by what a model says
    ci = ctx.services.forge.ci_status(prepared["head"])
    gates = [
        *prepared["gates"],
        {
            "name": "journeys",
            "passed": checked["journeys_passed"],
            "evidence": f"{sum(j['passed'] for j in checked['journeys'])}"
            f"/{len(checked['journeys'])} passed",
        },
        {
            "name": "validator",
            "passed": score >= rules.auto_merge.min_score,
            "evidence": f"verdict {verdict.get('verdict', 'none')}, score {score:.2f} "
            f"(min {rules.auto_merge.min_score})",
        },
        {
            "name": "ci",
            "passed": ci == "success" or not rules.auto_merge.require_ci,
            "evidence": f"CI {ci} on {prepared['head'][:12]}",
        },
    ]
    if all(g["passed"] for g in gates) and rules.auto_merge.enabled:
        return "merge", score, gates
    if all(g["passed"] for g in gates[:-2]) and score >= rules.review_band:
        return "needs_review", score, gates
    attempts = sum(
        1
        for r in ctx.services.store.list_runs(limit=50, workflow="validate", issue=ctx.issue)
        if r.status == "succeeded" and r.id != ctx.run_id
    )
    return ("retry" if attempts < rules.max_fix_attempts else "failed"), score, gates


@action("validate.decide")
def decide(ctx: StepContext) -> dict[str, Any]:
    assert ctx.issue is not None
    forge, templates = ctx.services.forge, ctx.services.templates
    verdict, score, gates = route(ctx)
    summary = sanitize_outbound(
        str(ctx.outputs["check"].get("validator", {}).get("output", {}).get("summary", "")), 600
    )
    body = templates.render(
        "comments/validated.md.j2",
        route=verdict,
        score=score,
        gates=gates,
        pr=ctx.outputs["prepare"]["pr"],
        summary=summary,
        journeys=ctx.outputs["check"]["journeys"],
    )
    if verdict != "merge":
        forge.post_comment(ctx.issue, f"validate:{verdict}:{ctx.run_id}", body)
        if verdict in ("retry", "failed"):  # this attempt is over; a retry opens a new PR
            forge.close_pr(ctx.outputs["prepare"]["pr"])
        forge.remove_labels(ctx.issue, ["factory:needs-review"])
        label = {
            "needs_review": "factory:needs-review",
            "retry": "factory:accepted",
            "failed": "factory:failed",
        }[verdict]
        forge.add_labels(ctx.issue, [label])
    return {"route": verdict, "score": score, "gates": gates, "comment": body}


@action("validate.merge")
def merge(ctx: StepContext) -> dict[str, Any]:
    """The applier merges with the expected head, only if production did not move."""
    assert ctx.issue is not None
    ctx.check_lease()
    forge, prepared = ctx.services.forge, ctx.outputs["prepare"]
    branch, sha = _production(ctx)
    if sha != ctx.outputs["baseline"]["production_sha"]:
        raise StepFailed(f"{branch} moved to {sha[:12]} after validation: validating again", {})
    merged = forge.merge_pr(prepared["pr"], prepared["head"])
    fault_point("validate.merge.done")
    forge.post_comment(
        ctx.issue,
        f"validate:merged:{prepared['pr']}",
        ctx.services.templates.render(
            "comments/merged.md.j2", merge_sha=merged, decision=ctx.outputs["decide"]["comment"]
        ),
    )
    forge.remove_labels(ctx.issue, ["factory:needs-review", "factory:in-progress"])
    forge.add_labels(ctx.issue, ["factory:merged"])
    forge.close_issue(ctx.issue)
    return {"merge_sha": merged, "branch": branch}


@action("validate.smoke")
def smoke(ctx: StepContext) -> dict[str, Any]:
    """Journeys on the new production head; a failure is reverted by a new commit."""
    assert ctx.issue is not None
    merged = ctx.outputs["merge"]["merge_sha"]
    result = journeys_on(ctx, merged, "smoke")
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
    forge.remove_labels(ctx.issue, ["factory:merged"])
    forge.add_labels(ctx.issue, ["factory:regression"])
    forge.post_comment(
        ctx.issue,
        f"validate:regression:{merged}",
        ctx.services.templates.render(
            "comments/regression.md.j2", merge_sha=merged, revert_sha=revert, failed=failed
        ),
    )
    return {**result, "reverted": revert}


@action("validate.fail")
def fail(ctx: StepContext) -> dict[str, Any]:
    assert ctx.issue is not None
    reason = next(iter(reversed([f["error"] for f in ctx.failures.values() if f.get("error")])), "")
    forge = ctx.services.forge
    forge.add_labels(ctx.issue, ["factory:needs-human"])
    forge.post_comment(
        ctx.issue,
        f"validate:needs-human:{ctx.run_id}",
        ctx.services.templates.render(
            "comments/validate_failed.md.j2", reason=reason, run_id=ctx.run_id
        ),
    )
    return {"label": "factory:needs-human", "reason": reason}
