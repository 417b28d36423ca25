"""``factory audit``: the ``audit`` workflow's actions (docs/learning.md, "Finding work"). The
analysers run over production's tree in the sandbox, offline; the auditor agent looks for
what they miss; code keeps a finding only when its snippet is on the line it names, and
files one (``factory:found``) only when no issue of the factory's carries its fingerprint."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from harness.analysers import (
    Analyser,
    fingerprinted,
    load_analysers,
    run_analysers,
    shipped_data,
    workspace,
)
from harness.artifacts import AnalyserFinding, Found, Worktree
from harness.engine.actions import action
from harness.engine.context import Services, StepContext
from harness.engine.runner import Engine, RunOutcome
from harness.forge.base import Label, file_once, filed_issues
from harness.forge.neutral import clip
from harness.git.worktrees import WorktreeManager
from harness.globs import matching

ORDER = ("critical", "high", "medium")  # by severity: low is never filed


def run_audit(services: Services, dry_run: bool) -> RunOutcome:
    """Run (or resume) the ``audit`` workflow; a look (``dry_run``) files nothing. An
    unfinished audit of the other kind is ended, never finished by this one: a look would
    file, an audit that files would not (what it filed is known by fingerprint)."""
    engine = Engine(services)
    unfinished = services.store.find_open_run("audit", None)
    if unfinished and bool(unfinished.inputs.get("dry_run")) != dry_run:
        engine.end(unfinished.id, "ended by an audit of the other kind")
    return engine.run("audit", inputs={"dry_run": dry_run})


@action("audit.checkout", produces=Worktree)
def checkout(ctx: StepContext) -> Worktree:
    """Production's commit (the one the governance was read from), checked out detached."""
    commit, services = ctx.services.settings.governance.commit, ctx.services
    manager = WorktreeManager.of(services.repo, services.settings.state_dir)
    path = manager.create_detached(commit, f"audit-{ctx.run_id}")
    return Worktree(path=str(path), branch="", base_sha=commit, start_sha=commit)


@action("audit.analyse", needs={"worktree": "audit.checkout"})
def analyse(ctx: StepContext) -> dict[str, Any]:
    """The analysers over the checkout: kept per commit and analysers (a commit never
    changes), unless one of them gave no answer."""
    settings, store = ctx.services.settings, ctx.services.store
    tree = ctx.output("worktree", Worktree)
    own = [Analyser.model_validate(a) for a in shipped_data()["audit"]]
    every = [*load_analysers(settings), *own]
    asked = repr([every, settings.config.audit.skip]).encode()
    key = f"audit:{tree.base_sha}:{hashlib.sha256(asked).hexdigest()[:16]}"
    if (kept := store.get_flag(key)) is not None:
        return dict(json.loads(kept))
    skip = settings.config.audit.skip  # what a project generates or pins: never read
    generated = shipped_data()["skip"] if skip is None else skip
    paths = [p for p in ctx.services.repo.tree(tree.base_sha) if not matching(p, generated)]
    with workspace(settings) as where:
        found = run_analysers(
            settings, where, where.write(ctx.services.repo, tree.base_sha, paths), every
        )
    result = {"findings": [f.model_dump() for f in found.findings], "errors": found.errors}
    if not found.errors:
        store.set_flag(key, json.dumps(result))
    return result


def _evidenced(services: Services, said: dict[str, Any]) -> AnalyserFinding | None:
    """An auditor's finding, on the line of production's file where its snippet is (None:
    the file or the snippet is not there)."""
    commit = services.settings.governance.commit
    in_tree = said["path"] in services.repo.tree(commit)  # ../../etc/passwd is not
    blob = services.repo.read_blob(commit, said["path"]) if in_tree else None
    snippet = " ".join(str(said["snippet"]).split())
    lines = [" ".join(x.split()) for x in (blob or b"").decode("utf-8", "replace").splitlines()]
    at = [n for n, text in enumerate(lines, 1) if snippet and snippet in text]
    if not at:
        return None
    line = min(at, key=lambda n: abs(n - int(said.get("line") or 0)))
    fields = {k: said[k] for k in ("rule", "path", "severity", "message", "criterion")}
    return fingerprinted(analyser="auditor", line=line, snippet=lines[line - 1], **fields)


@action("audit.select", produces=Found, needs={"analyse": "audit.analyse"})
def select(ctx: StepContext) -> Found:
    """What this run files: the new findings, most severe first, at most audit.max_issues
    (kept: a resumed run files these and no others)."""
    services = ctx.services
    analysed = [AnalyserFinding.model_validate(f) for f in ctx.outputs["analyse"]["findings"]]
    said = ctx.outputs.get("auditor", {}).get("findings", [])
    agent = [f for f in (_evidenced(services, x) for x in said) if f is not None]
    # one secret that two detectors name is one finding
    every = {f.identity or f.fingerprint: f for f in [*analysed, *agent] if f.severity in ORDER}
    ordered = sorted(
        every.values(), key=lambda f: (ORDER.index(f.severity), f.path, f.line, f.rule)
    )
    filed = filed_issues(services.forge)
    new = [f for f in ordered if f"audit:{f.fingerprint}" not in filed]
    limit = services.settings.governance.rules.audit.max_issues
    errors, lost = list(ctx.outputs["analyse"]["errors"]), len(said) - len(agent)
    errors += [f"{lost} of the auditor's findings are not where they say"] if lost else []
    failed = ctx.failures.get("auditor")  # it costs its own findings only
    errors += [f"the auditor failed: {failed['error']}"] if failed else []
    seen, old = len(ordered), len(ordered) - len(new)
    return Found(findings=new[:limit], seen=seen, known=old, errors=errors)


@action("audit.release")
def release(ctx: StepContext) -> dict[str, Any]:
    """The checkout goes (a failed audit's too)."""
    tree = ctx.outputs.get("worktree", {}).get("path")
    if tree:
        WorktreeManager.of(ctx.services.repo, ctx.services.settings.state_dir).remove(Path(tree))
    return {}


@action("audit.file", produces=Found, needs={"select": "audit.select"})
def file(ctx: StepContext) -> Found:
    """One issue per selected finding, filed once (``file_once``, by its fingerprint) and
    labelled ``factory:found``; the checkout goes."""
    services, forge, chosen = ctx.services, ctx.services.forge, ctx.output("select", Found)
    filed = filed_issues(forge)
    issues = []
    for f in [] if ctx.inputs.get("dry_run") else chosen.findings:  # a look files nothing
        title = clip(f"{f.rule} in {f.path}: {f.message.splitlines()[0]}", 120)
        body = services.templates.render(
            "comments/found.md.j2", f=f.model_dump(), commit=services.settings.governance.commit
        )
        key = f"audit:{f.fingerprint}"
        issue = file_once(forge, key, title, body, beside=(Label.FOUND,), reopen=False, filed=filed)
        issues.append(issue.number)
    release(ctx)
    return chosen.model_copy(update={"issues": issues})
