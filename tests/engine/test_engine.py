"""The workflow engine: overrides, strict definitions, loops with maxima, resume, kill switch."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.engine.actions import action
from harness.engine.context import StepContext
from harness.engine.runner import Engine
from harness.errors import ConfigErrors, FactoryError
from harness.services import open_services
from tests.cli_helpers import run_cli, use_actions
from tests.factory_repo import git, make_factory_repo

RUNS: Counter[str] = Counter()
PLAN: dict[str, Any] = {}


@action("test.count")
def _count(ctx: StepContext) -> dict[str, Any]:
    RUNS[ctx.step.id] += 1
    return {"n": RUNS[ctx.step.id]}


@action("test.flaky")
def _flaky(ctx: StepContext) -> dict[str, Any]:
    RUNS[ctx.step.id] += 1
    if RUNS[ctx.step.id] <= PLAN.get("failures", 0):
        raise FactoryError(f"attempt {RUNS[ctx.step.id]} failed")
    return {"ok": True}


@action("test.crash")
def _crash(ctx: StepContext) -> dict[str, Any]:
    RUNS[ctx.step.id] += 1
    if PLAN.pop("crash", False):
        raise KeyboardInterrupt  # the process dies inside this step
    return {}


@action("test.stop_switch")
def _stop(ctx: StepContext) -> dict[str, Any]:
    RUNS[ctx.step.id] += 1
    ctx.services.store.set_flag("stopped", "pulled mid-run")
    return {}


@pytest.fixture(autouse=True)
def _reset(monkeypatch: pytest.MonkeyPatch) -> None:
    use_actions(monkeypatch, _count, _flaky, _crash, _stop)
    RUNS.clear()
    PLAN.clear()


def repo_with(tmp_path: Path, name: str, text: str) -> Path:
    repo = make_factory_repo(tmp_path / "repo")
    folder = repo / ".factory" / "workflows"
    folder.mkdir(parents=True)
    (folder / f"{name}.yaml").write_text(text)
    git(repo, "add", "-f", str(folder / f"{name}.yaml"))
    git(repo, "commit", "-q", "-m", "workflow override")
    return repo


def engine(repo: Path, tmp_path: Path) -> Engine:
    return Engine(open_services(repo, tmp_path / "state"))


LOOP = """
name: loop
steps:
  - {id: start, action: test.count}
  - id: check
    action: test.flaky
    on_fail: {retry_from: start, max: "{{ rules.max_fix_attempts }}"}
  - {id: done, action: test.count}
"""


def test_loop_retries_up_to_its_maximum_then_succeeds(tmp_path: Path) -> None:
    PLAN["failures"] = 2
    outcome = engine(repo_with(tmp_path, "loop", LOOP), tmp_path).run("loop", 1)
    assert outcome.status == "succeeded"
    assert RUNS == {"start": 3, "check": 3, "done": 1}


def test_loop_gives_up_after_its_maximum(tmp_path: Path) -> None:
    PLAN["failures"] = 10
    outcome = engine(repo_with(tmp_path, "loop", LOOP), tmp_path).run("loop", 1)
    assert outcome.status == "failed" and "attempt 3 failed" in (outcome.reason or "")
    assert RUNS["check"] == 3 and "done" not in RUNS  # max_fix_attempts: 2 -> 3 tries in all


def test_a_killed_run_resumes_at_the_step_it_was_in(tmp_path: Path) -> None:
    text = """
name: crashy
steps:
  - {id: one, action: test.count}
  - {id: two, action: test.crash}
  - {id: three, action: test.count}
"""
    eng = engine(repo_with(tmp_path, "crashy", text), tmp_path)
    PLAN["crash"] = True
    with pytest.raises(KeyboardInterrupt):
        eng.run("crashy", 5)
    outcome = eng.run("crashy", 5)
    assert outcome.status == "succeeded"
    assert RUNS == {"one": 1, "two": 2, "three": 1}  # 'one' was not done again
    steps = eng.services.store.steps(outcome.run_id)
    assert [(s.step_id, s.status) for s in steps] == [
        ("one", "succeeded"),
        ("two", "running"),
        ("two", "succeeded"),
        ("three", "succeeded"),
    ]
    assert all(s.inputs for s in steps)


def test_kill_switch_is_checked_before_every_step(tmp_path: Path) -> None:
    text = """
name: switchy
steps:
  - {id: one, action: test.stop_switch}
  - {id: two, action: test.count}
"""
    eng = engine(repo_with(tmp_path, "switchy", text), tmp_path)
    outcome = eng.run("switchy", 9)
    assert outcome.status == "stopped" and "two" not in RUNS
    eng.services.store.clear_flag("stopped")
    outcome = eng.run("switchy", 9)
    assert outcome.status == "succeeded" and RUNS == {"one": 1, "two": 1}


def test_when_false_skips_a_step(tmp_path: Path) -> None:
    text = """
name: cond
steps:
  - {id: one, action: test.count}
  - {id: two, action: test.count, when: "steps.one.n > 5"}
  - {id: three, action: test.count, when: "steps.one.n == 1"}
"""
    outcome = engine(repo_with(tmp_path, "cond", text), tmp_path).run("cond", 2)
    assert outcome.status == "succeeded" and RUNS == {"one": 1, "three": 1}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: x\nsteps:\n  - {id: a, action: test.count, colour: red}\n", "steps[0].colour"),
        ("name: x\nsteps:\n  - {id: a, frobnicate: yes}\n", "steps[0].frobnicate"),
        ("name: x\nsteps:\n  - {id: a, action: no.such}\n", "unknown action 'no.such'"),
        (
            "name: x\nsteps:\n  - {id: a, agent: wizard, prompt: p, output: finish}\n",
            "unknown role",
        ),
        (
            "name: x\nsteps:\n  - {id: a, agent: planner, prompt: p, output: teleport}\n",
            "unknown tool",
        ),
        (
            "name: x\nsteps:\n  - {id: a, action: test.count, on_fail: {retry_from: b, max: 1}}\n"
            "  - {id: b, action: test.count}\n",
            "is not an earlier step",
        ),
        ("name: x\nsteps: []\n", "at least one step"),
        # read on libyaml, whose own error marks the text's end: the line is the mistake's
        ("name: x\nsteps:\n  - {id: a\n  - b\nmore: 1\n", "line 5: invalid YAML: expected ','"),
        # YAML keeps a key's last value: a step whose `when` is written twice is refused
        (
            "name: x\nsteps:\n  - id: a\n    action: test.count\n    when: 'false'\n"
            "    when: 'true'\n",
            "line 6: duplicate key 'when'",
        ),
        (
            "name: x\nsteps:\n  - {id: a, action: test.count}\n  - {id: a, action: test.count}\n",
            "duplicate",
        ),
    ],
)
def test_bad_workflows_are_config_errors(tmp_path: Path, text: str, needle: str) -> None:
    eng = engine(repo_with(tmp_path, "bad", text), tmp_path)
    with pytest.raises(ConfigErrors) as info:
        eng.run("bad", 1)
    assert needle in str(info.value.problems), info.value.problems
    assert str(info.value.problems[0]).startswith(".factory/workflows/bad.yaml:")


def test_an_override_of_triage_is_used_and_checked(tmp_path: Path, capsys) -> None:
    repo = repo_with(tmp_path, "triage", "name: triage\nsteps:\n  - {id: a, action: triage.nope}\n")
    run_cli(capsys, "--repo", str(repo), "issue", "new", "--title", "t", "--body", "b")
    res = run_cli(capsys, "--repo", str(repo), "triage")
    assert res.code == 2
    assert res.err.strip() == (
        "factory: error: .factory/workflows/triage.yaml: steps[0].action: unknown action 'triage.nope'"
    )


def test_a_workflow_about_an_issue_refuses_to_run_without_one() -> None:
    from harness.engine.context import StepContext
    from harness.engine.workflow import Step

    step = Step(id="prepare", action="implement.prepare")
    ctx = StepContext(None, "r-1", "implement", step, None, {}, {})  # type: ignore[arg-type]
    with pytest.raises(FactoryError) as refused:
        ctx.number
    assert str(refused.value) == "workflow implement is about an issue: give its number"
    assert StepContext(None, "r-1", "implement", step, 7, {}, {}).number == 7  # type: ignore[arg-type]
