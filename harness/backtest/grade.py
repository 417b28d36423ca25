"""Grading a rehearsal: the implemented tree with the fix's hidden tests put back.

Only once the case's agents and validator are done: the hidden tests (as the fix has them;
one the fix deleted is deleted) are committed on the implemented head in the scratch
repository — git writes them, so a link the implementer left where a test goes is replaced,
never followed — and ``commands.test`` runs on that commit in the sandbox, without the
network, set up as a validation sets up a change (``prepare_worktree``). Resolved: it
exits 0, so the fix's tests and the suite as the implementation left it pass."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from harness.engine.context import Services
from harness.git import snapshot
from harness.git.repo import GitRepo
from harness.git.worktrees import WorktreeManager
from harness.sandbox.limits import Limits
from harness.sandbox.policy import prepare_worktree, worktree_sandbox

GRADED_REF = "refs/backtest/graded"
MAX_OUTPUT = 4000


class Graded(BaseModel):
    """What the hidden tests said of the implemented tree."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    resolved: bool
    command: str
    exit_code: int | None  # None: the tree could not be set up to run them
    output: str = ""
    problem: str | None = None


def hidden_files(
    source: GitRepo, fix: str, tests: tuple[str, ...]
) -> tuple[dict[str, tuple[str, bytes]], list[str]]:
    """The hidden tests as the fix has them ((mode, bytes) by path), and those it deleted."""
    modes = snapshot.file_modes(source, fix, list(tests))
    files: dict[str, tuple[str, bytes]] = {}
    for path, mode in modes.items():
        data = source.read_blob(fix, path)
        if data is not None:
            files[path] = (mode, data)
    return files, [p for p in tests if p not in files]


def grade(
    services: Services,
    head: str,
    trusted: str,
    hidden: tuple[dict[str, tuple[str, bytes]], list[str]],
) -> Graded:
    """``commands.test`` on ``head`` with the hidden tests in place, set up from the trusted
    production commit ``trusted`` as validation does."""
    settings, repo = services.settings, services.repo
    command = settings.config.commands.test
    files, deleted = hidden
    message = "Rehearsal: the implementation with the fix's tests, to grade it"
    graded = snapshot.commit_over(repo, head, files, deleted, message)
    snapshot.set_ref(repo, GRADED_REF, graded)
    manager = WorktreeManager.of(repo, settings.state_dir)
    path = manager.create_detached(trusted, "graded")
    try:
        prepared = prepare_worktree(settings, path, trusted, graded)
        if prepared.problem is not None:
            return Graded(
                resolved=False,
                command=command,
                exit_code=None,
                output=prepared.output[-MAX_OUTPUT:],
                problem=prepared.problem,
            )
        limits = Limits(timeout_s=settings.config.commands.test_timeout_s)
        result = worktree_sandbox(settings, path, limits).run(command)
    finally:
        manager.remove(path)
    return Graded(
        resolved=result.exit_code == 0,
        command=command,
        exit_code=result.exit_code,
        output=result.output[-MAX_OUTPUT:],
    )
