"""``factory audit``: the ``audit`` workflow's actions (docs/learning.md, "Finding work"). The
analysers run over production's tree in the sandbox, offline; the auditor agent looks for
what they miss; code keeps a finding only when its snippet is on the line it names, and
files one (``factory:found``) only when no issue of the factory's carries its fingerprint."""

from __future__ import annotations

from pathlib import Path

from harness.analysers import (
    fingerprinted,
    load_analysers,
    run_analysers,
    shipped_data,
    workspace,
)
from harness.artifacts import (
    Analysed,
    AnalyserFinding,
    Audited,
    AuditInputs,
    AuditorFinding,
    Found,
    Worktree,
)
from harness.digest import sha256
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
    unfinished audit of the other kind is ended by the engine (its inputs differ), never
    finished by this one: a look would file, an audit that files would not (what it filed is
    known by fingerprint)."""
    return Engine(services).run("audit", inputs=AuditInputs(dry_run=dry_run))


@action("audit.checkout")
def checkout(ctx: StepContext) -> Worktree:
    """Production's commit (the one the governance was read from), checked out detached."""
    commit, services = ctx.services.settings.governance.commit, ctx.services
    manager = WorktreeManager.of(services.repo, services.settings.state_dir)
    path = manager.create_detached(commit, f"audit-{ctx.run_id}")
    return Worktree(path=str(path), branch="", base_sha=commit, start_sha=commit)


@action("audit.analyse")
def analyse(ctx: StepContext, worktree: Worktree) -> Analysed:
    """The analysers over the checkout: kept per commit and analysers (a commit never
    changes), unless one of them gave no answer."""
    settings, store = ctx.services.settings, ctx.services.store
    own = shipped_data().audit
    every = [*load_analysers(settings), *own]
    asked = repr([every, settings.config.audit.skip])
    key = f"audit:{worktree.base_sha}:{sha256(asked)[:16]}"
    if (kept := store.get_flag(key)) is not None:
        return Analysed.model_validate_json(kept)
    skip = settings.config.audit.skip  # what a project generates or pins: never read
    generated = shipped_data().skip if skip is None else skip
    paths = [p for p in ctx.services.repo.tree(worktree.base_sha) if not matching(p, generated)]
    with workspace(settings) as where:
        found = run_analysers(
            settings, where, where.write(ctx.services.repo, worktree.base_sha, paths), every
        )
    if not found.errors:
        store.set_flag(key, found.model_dump_json())
    return found


def _evidenced(services: Services, said: AuditorFinding) -> AnalyserFinding | None:
    """An auditor's finding, on the line of production's file where its snippet is (None:
    the file or the snippet is not there)."""
    commit = services.settings.governance.commit
    in_tree = said.path in services.repo.tree(commit)  # ../../etc/passwd is not
    blob = services.repo.read_blob(commit, said.path) if in_tree else None
    snippet = " ".join(said.snippet.split())
    lines = [" ".join(x.split()) for x in (blob or b"").decode("utf-8", "replace").splitlines()]
    at = [n for n, text in enumerate(lines, 1) if snippet and snippet in text]
    if not at:
        return None
    line = min(at, key=lambda n: abs(n - said.line))
    fields = said.model_dump(include={"rule", "path", "severity", "message", "criterion"})
    return fingerprinted(analyser="auditor", line=line, snippet=lines[line - 1], **fields)


@action("audit.select")
def select(ctx: StepContext, analyse: Analysed, auditor: Audited | None) -> Found:
    """What this run files: the new findings, most severe first, at most audit.max_issues
    (kept: a resumed run files these and no others)."""
    services = ctx.services
    analysed = analyse.findings
    said = auditor.findings if auditor else []
    agent = [f for f in (_evidenced(services, x) for x in said) if f is not None]
    # one secret that two detectors name is one finding
    every = {f.identity or f.fingerprint: f for f in [*analysed, *agent] if f.severity in ORDER}
    ordered = sorted(
        every.values(), key=lambda f: (ORDER.index(f.severity), f.path, f.line, f.rule)
    )
    filed = filed_issues(services.forge)
    new = [f for f in ordered if f"audit:{f.fingerprint}" not in filed]
    limit = services.settings.governance.rules.audit.max_issues
    errors = list(analyse.errors)
    lost = len(said) - len(agent)
    errors += [f"{lost} of the auditor's findings are not where they say"] if lost else []
    # a step that may fail (the auditor) costs its own findings only
    errors += [f"the {step} failed: {f.error}" for step, f in ctx.failures.items()]
    seen, old = len(ordered), len(ordered) - len(new)
    return Found(findings=new[:limit], seen=seen, known=old, errors=errors)


@action("audit.release")
def release(ctx: StepContext, worktree: Worktree | None) -> None:
    """The checkout goes (a failed audit's too)."""
    if worktree:
        manager = WorktreeManager.of(ctx.services.repo, ctx.services.settings.state_dir)
        manager.remove(Path(worktree.path))


@action("audit.file")
def file(ctx: StepContext, inputs: AuditInputs, select: Found, worktree: Worktree) -> Found:
    """One issue per selected finding, filed once (``file_once``, by its fingerprint) and
    labelled ``factory:found``; the checkout goes."""
    services = ctx.services
    forge = services.forge
    filed = filed_issues(forge)
    issues = []
    for f in [] if inputs.dry_run else select.findings:  # a look files nothing
        title = clip(f"{f.rule} in {f.path}: {f.message.splitlines()[0]}", 120)
        body = services.templates.render(
            "comments/found.md.j2", f=f.model_dump(), commit=services.settings.governance.commit
        )
        key = f"audit:{f.fingerprint}"
        issue = file_once(forge, key, title, body, beside=(Label.FOUND,), reopen=False, filed=filed)
        issues.append(issue.number)
    release(ctx, worktree)
    return select.evolve(issues=issues)
