"""Grading a rehearsal: the implemented tree with the fix's hidden tests put back
(docs/backtest.md, "The grade"). Git commits the hidden tests, so a link the implementer
left where a test goes is replaced, never followed."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from harness.config.testfiles import clipped, counted, test_files
from harness.engine.context import Services
from harness.git import snapshot
from harness.git.repo import GitRepo
from harness.git.worktrees import WorktreeManager
from harness.sandbox.limits import Limits
from harness.sandbox.policy import prepare_worktree, worktree_sandbox
from harness.validate.proof import tests_in
from harness.validate.suite import announce

GRADED_REF = "refs/backtest/graded"
BEFORE_REF = "refs/backtest/before"
MAX_OUTPUT = 4000
Hidden = tuple[dict[str, tuple[str, bytes]], list[str]]  # (mode, bytes) by path; deleted


class Graded(BaseModel):
    """What the hidden tests said of the implemented tree (and of the fix's parent); a key
    it no longer has, in a backtest's row stored before, is passed over as it is read."""

    model_config = ConfigDict(frozen=True)

    resolved: bool
    command: str
    exit_code: int | None  # None: the tree could not be set up to run them
    output: str = ""
    problem: str | None = None
    # on the fix's parent: True they failed there (they show the change), False they passed
    # there too (they prove nothing), None not run (no hidden tests, or no set-up)
    fails_before: bool | None = None
    before_command: str | None = None  # what ran on the fix's parent
    suite_runs: int = 0  # whole-suite runs grading took
    inconclusive: bool = False  # its time limit stopped a run twice: no evidence either way
    # the hidden tests by name on the graded tree (commands.test_files): how many ran, passed
    hidden_ran: int = 0
    hidden_passed: int = 0


def hidden_files(source: GitRepo, fix: str, tests: tuple[str, ...]) -> Hidden:
    """The hidden tests as the fix has them ((mode, bytes) by path), and those it deleted."""
    modes = snapshot.file_modes(source, fix, list(tests)).items()
    files = {p: (mode, data) for p, mode in modes if (data := source.read_blob(fix, p)) is not None}
    return files, [p for p in tests if p not in files]


@dataclass(frozen=True)
class _Ran:
    exit_code: int | None
    output: str
    problem: str | None = None
    runs: int = 0  # of the command (a second after a time limit)
    stopped: bool = False  # by its time limit, twice


def _tests_over(
    services: Services, over: str, trusted: str, hidden: Hidden, ref: str, command: str, issue: int
) -> _Ran:
    """``command`` on ``over`` with the hidden tests committed on it (kept at ``ref``), set up
    from the trusted production commit ``trusted`` as validation does; stopped by its time
    limit, once more (a time limit is not a verdict)."""
    settings = services.settings
    repo = services.repo
    commands = settings.config.commands
    files, deleted = hidden
    message = "Rehearsal: the fix's tests put back, to grade"
    commit = snapshot.commit_over(repo, over, files, deleted, message)
    snapshot.set_ref(repo, ref, commit)
    manager = WorktreeManager.of(repo, settings.state_dir)
    path = manager.create_detached(trusted, ref.rsplit("/", 1)[-1])
    try:
        prepared = prepare_worktree(settings, path, trusted, commit)
        if prepared.problem is not None:
            return _Ran(None, prepared.output, prepared.problem, 0)
        box = worktree_sandbox(settings, path, Limits(timeout_s=commands.test_timeout_s))
        announce(services.store, None, issue, command, command == commands.test)
        runs = [box.run(command)]
        if runs[0].limit_hit == "time":  # once more, counted as its own run
            announce(services.store, None, issue, command, command == commands.test)
            runs.append(box.run(command))
    finally:
        manager.remove(path)
    result = runs[-1]
    stopped = result.limit_hit == "time"
    problem = f"the suite does not finish in {commands.test_timeout_s:.0f} s (time limit)"
    return _Ran(
        result.exit_code,
        clipped(result.output, MAX_OUTPUT),
        problem if stopped else None,
        len(runs),
        stopped,
    )


def grade(services: Services, head: str, trusted: str, hidden: Hidden, issue: int) -> Graded:
    """The whole suite on ``head`` with the hidden tests in place, and those tests by name
    (``commands.test_files``) there too: how many ran and passed is the proof; the hidden
    tests alone (the suite when no template fits) on the fix's parent (``trusted``, the
    scratch production) as well, each set up from ``trusted``; each run kept as one of the
    case's ``issue``."""
    commands = services.settings.config.commands
    ran = _tests_over(services, head, trusted, hidden, GRADED_REF, commands.test, issue)
    tests = [p for p, (_, data) in sorted(hidden[0].items()) if tests_in(p, data)]
    named = test_files(commands, tests)
    only = named or commands.test
    parent = alone = _Ran(None, "")
    if any(hidden) and ran.exit_code is not None:
        parent = _tests_over(services, trusted, trusted, hidden, BEFORE_REF, only, issue)
    if named and ran.exit_code is not None:
        alone = _tests_over(services, head, trusted, hidden, GRADED_REF, named, issue)
    settled = parent.exit_code is not None and parent.problem is None  # not a time limit
    count, failed = counted(alone.output)
    proved = alone.exit_code == 0 and count > 0 and not failed  # they ran, and passed
    return Graded(
        resolved=ran.exit_code == 0 and ran.problem is None and proved,
        command=commands.test,
        exit_code=ran.exit_code,
        output=ran.output,
        problem=ran.problem,
        fails_before=parent.exit_code != 0 if settled else None,
        before_command=only if parent.runs else None,
        suite_runs=ran.runs + (parent.runs if only == commands.test else 0),
        inconclusive=ran.stopped or parent.stopped or alone.stopped,
        hidden_ran=count,
        hidden_passed=count - failed,
    )
