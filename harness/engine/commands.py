"""Command steps and the ``run_command`` tool: shell commands inside the worktree sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.artifacts import Artifact, Plan
from harness.config.testfiles import failing_tests
from harness.engine.context import StepContext
from harness.engine.records import Produced, RunRecords
from harness.errors import FactoryError, StepFailed
from harness.globs import matching
from harness.model.blocks import Handler


def _sandbox(ctx: StepContext, worktree: Path) -> Any:
    from harness.sandbox.policy import worktree_sandbox

    return worktree_sandbox(ctx.services.settings, worktree)


def run_command_step(ctx: StepContext) -> Produced[Artifact]:
    """Run the step's command in the sandbox; a non-zero exit fails the step."""
    assert ctx.step.run is not None
    command = ctx.services.templates.render_string(ctx.step.run, **ctx.template_context()).strip()
    if not command:
        return Produced(None, {"exit_code": 0, "output": "", "skipped": True})
    worktree = ctx.worktree()
    if worktree is None:
        raise FactoryError(f"step {ctx.step.id}: a command step needs a worktree step before it")
    result = _sandbox(ctx, Path(worktree.path)).run(command, timeout_s=ctx.step.timeout_s)
    ctx.timings["subprocess_s"] += result.duration_s
    outputs = {
        "command": command,
        "exit_code": result.exit_code,
        "output": result.output,
        "limit_hit": result.limit_hit,
        "duration_s": round(result.duration_s, 3),
    }
    if result.exit_code != 0:
        tail = result.output.strip().splitlines()[-1:] or [""]
        raise StepFailed(f"command exited {result.exit_code}: {tail[0][:200]}", outputs)
    return Produced(None, outputs)


AGENT_TESTS = "agent.tests"  # an agent's run_tests began (``suite``: the whole suite)


def touched(ctx: StepContext) -> list[str]:
    """The tests a change touches, which ``run_tests`` runs first: those the run's last tests
    said failed and the test files the plan names."""
    records = RunRecords(ctx.records)
    plan, said = records.newest(Plan), [t.output for t in records.tested()[-1:]]
    tests = ctx.services.settings.config.backtest.test_paths
    named = [path for path in (plan.files if plan else []) if matching(path, tests)]
    return list(dict.fromkeys([*(i for output in said for i in failing_tests(output)), *named]))


def command_tool_handlers(ctx: StepContext, worktree: Path) -> dict[str, Handler]:
    from harness.tools.command import CommandTool

    def counted(suite: bool) -> None:
        ctx.services.store.append_event(ctx.run_id, AGENT_TESTS, {"suite": suite})

    commands = ctx.services.settings.config.commands
    return CommandTool(_sandbox(ctx, worktree), commands, touched(ctx), counted).handlers()
