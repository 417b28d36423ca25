"""An action's signature is its declaration (docs/architecture.md, "What flows between
workflows"): what it produces is its return annotation, what it needs its parameters, named
by the earlier steps' ids and typed with their records; the engine hands it those records,
and the hand-off check refuses an override that drops or retypes one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.artifacts import Assignment, IssueSpec, Plan
from harness.artifacts import Tested as Ran
from harness.engine.actions import Need, action, declared
from harness.engine.context import StepContext
from harness.engine.handoffs import Loaded, step_problems
from harness.engine.records import Produced
from harness.engine.runner import Engine
from harness.engine.workflow import parse_workflow
from harness.errors import ConfigErrors
from harness.services import open_services
from tests.cli_helpers import run_cli, use_actions
from tests.engine.test_handoffs import override, shipped_text
from tests.factory_repo import make_factory_repo

GIVEN: dict[str, Any] = {}


@action("test.sig_spec")
def _spec(ctx: StepContext) -> IssueSpec:
    return IssueSpec(number=ctx.number, title="t", decision="accept")


@action("test.sig_maybe_tested")
def _maybe_tested(ctx: StepContext) -> Ran | None:
    return None  # produces nothing this time


@action("test.sig_reads")
def _reads(ctx: StepContext, spec: IssueSpec, tested: Ran | None) -> Produced[Plan]:
    GIVEN.update(spec=spec, tested=tested)
    return Produced(Plan(plan=f"do {spec.title}"), {"note": 1})


@action("test.sig_outputs")
def _outputs(ctx: StepContext) -> IssueSpec | dict[str, Any]:
    return {"about": None}


@action("test.sig_assigned")
def _assigned(ctx: StepContext, spec: Assignment) -> None:
    GIVEN.update(assigned=spec)


@pytest.fixture(autouse=True)
def _actions(monkeypatch: pytest.MonkeyPatch) -> None:
    use_actions(monkeypatch, _spec, _maybe_tested, _reads, _outputs, _assigned)
    GIVEN.clear()


# -- what the signature declares -----------------------------------------------------------


def test_the_return_annotation_is_what_an_action_produces() -> None:
    spec, maybe, reads, outputs = (declared(f) for f in (_spec, _maybe_tested, _reads, _outputs))
    assert spec is not None and maybe is not None and reads is not None and outputs is not None
    assert (spec.produces, spec.may_produce_nothing) == (IssueSpec, False)
    assert (maybe.produces, maybe.may_produce_nothing) == (Ran, True)  # X | None
    assert (reads.produces, reads.may_produce_nothing) == (Plan, False)  # Produced[X]
    assert (outputs.produces, outputs.may_produce_nothing) == (IssueSpec, True)  # X | dict


def test_the_parameters_are_the_earlier_steps_an_action_needs() -> None:
    info = declared(_reads)
    assert info is not None
    assert dict(info.needs) == {"spec": Need(IssueSpec), "tested": Need(Ran, optional=True)}


def test_the_older_keywords_are_gone() -> None:
    """The signature is the one declaration: ``produces=`` and ``needs=`` are refused."""
    with pytest.raises(TypeError, match="unexpected keyword"):
        action("test.sig_older", produces=IssueSpec)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword"):
        action("test.sig_older", needs={"spec": "test.sig_spec"})  # type: ignore[call-arg]


def test_a_parameter_that_is_not_a_record_is_refused_when_marked() -> None:
    with pytest.raises(TypeError, match="parameter spec is not a record"):

        @action("test.sig_loose")
        def loose(ctx: StepContext, spec: dict[str, Any]) -> None:
            raise AssertionError


# -- the engine hands the records in -------------------------------------------------------

READS = """
name: reads
steps:
  - {id: spec, action: test.sig_spec}
  - {id: tested, action: test.sig_maybe_tested, when: "false"}
  - {id: plan, action: test.sig_reads}
"""


def test_the_engine_passes_the_records_an_action_names(tmp_path: Path) -> None:
    repo = make_factory_repo(tmp_path / "repo")
    override(repo, "reads", READS)
    services = open_services(repo, tmp_path / "state")
    outcome = Engine(services).run("reads", 5)
    assert outcome.status == "succeeded", outcome.reason
    assert GIVEN == {"spec": IssueSpec(number=5, title="t", decision="accept"), "tested": None}
    assert outcome.artifact(Plan) == Plan(plan="do t")
    plan = next(s for s in services.store.steps(outcome.run_id) if s.step_id == "plan")
    assert plan.outputs["note"] == 1  # the Produced's extra, beside the record


def test_a_record_of_another_shape_fails_the_step_in_one_line(tmp_path: Path) -> None:
    """A run killed after its first step, resumed by a version whose record has another shape."""
    repo = make_factory_repo(tmp_path / "repo")
    override(repo, "reads", READS)
    services = open_services(repo, tmp_path / "state")
    store = services.store
    run = store.create_run("reads", 5, {}, {})
    store.finish_step(store.start_step(run.id, "spec", {}), "succeeded", {"number": 5})
    store.finish_step(store.start_step(run.id, "tested", {}), "skipped", {})
    outcome = Engine(services).run("reads", 5)
    assert outcome.status == "failed"
    assert GIVEN == {}  # the action never ran
    assert outcome.reason == (
        "step plan failed: step spec recorded no IssueSpec (decision: Field required); "
        "written by another version of the factory?"
    )


# -- the hand-off check reads the same needs ------------------------------------------------


def _problems(text: str) -> list[str]:
    workflow = parse_workflow(text, ".factory/workflows/reads.yaml")
    return [str(p) for p in step_problems(Loaded(workflow, ".factory/workflows/reads.yaml"))]


def test_a_step_that_may_not_have_run_may_be_left_out() -> None:
    assert _problems(READS) == []
    left_out = READS.replace('  - {id: tested, action: test.sig_maybe_tested, when: "false"}\n', "")
    assert _problems(left_out) == []


def test_a_step_may_be_read_as_a_record_of_its_kind() -> None:
    """A record with more fields, its step's extras completing it (as ``prepare: Prepared``
    reads ``validate.prepare``'s ``Produced[ValidationTarget]``), or one it is a kind of."""
    assert _problems(READS.replace("action: test.sig_reads", "action: test.sig_assigned")) == []


def test_a_needed_step_dropped_or_of_another_type_is_refused() -> None:
    assert _problems(READS.replace("id: spec,", "id: issue,")) == [
        ".factory/workflows/reads.yaml: steps[2] (plan): test.sig_reads needs an earlier step "
        "'spec' producing IssueSpec; that step is missing (renamed or dropped?)"
    ]
    # present, but producing something else: refused even though the parameter is optional
    assert _problems(READS.replace("action: test.sig_maybe_tested", "action: test.sig_spec")) == [
        ".factory/workflows/reads.yaml: steps[2] (plan): test.sig_reads needs an earlier step "
        "'tested' producing Tested; that step runs action test.sig_spec"
    ]


def test_factory_check_refuses_a_lessons_override_dropping_a_needed_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_factory_repo(tmp_path / "repo")
    text = shipped_text("lessons").replace(
        '  - {id: rehearse, action: lessons.rehearse, when: "steps.pick.about and steps.edit.new_text"}\n',
        "",
    )
    override(repo, "lessons", text)
    res = run_cli(capsys, "--repo", str(repo), "check")
    assert res.code == 2
    assert "Traceback" not in res.err
    assert (
        "factory: error: .factory/workflows/lessons.yaml: steps[3] (pr): lessons.open_pr needs "
        "an earlier step 'rehearse' producing Rehearsal; that step is missing (renamed or "
        "dropped?)"
    ) in res.err.splitlines()
    # and at load time: refused before any step runs
    services = open_services(repo, tmp_path / "state")
    with pytest.raises(ConfigErrors):
        Engine(services).run("lessons")
    assert services.store.list_runs(limit=None) == []


def test_an_agent_step_hands_on_its_output_tools_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The learner's ``submit_governance_edit`` is the GovernanceEdit the branch and the pull
    request read: an override giving it another output tool is refused."""
    repo = make_factory_repo(tmp_path / "repo")
    override(
        repo, "lessons", shipped_text("lessons").replace("submit_governance_edit", "submit_plan")
    )
    res = run_cli(capsys, "--repo", str(repo), "check")
    assert res.code == 2
    assert (
        "factory: error: .factory/workflows/lessons.yaml: steps[2] (branch): lessons.branch "
        "needs an earlier step 'edit' producing GovernanceEdit; that step runs agent learner"
    ) in res.err.splitlines()


def test_an_action_parameter_that_is_not_a_string_is_refused_in_one_line() -> None:
    text = "name: asks\nsteps:\n  - {id: ask, action: implement.declined, params: {step: 2}}\n"
    with pytest.raises(ConfigErrors) as refused:
        parse_workflow(text, ".factory/workflows/asks.yaml")
    said = str(refused.value)
    assert said.endswith("steps[0].params.step: Input should be a valid string"), said
    assert parse_workflow(text.replace("2", "plan"), "asks.yaml").steps[0].params == {
        "step": "plan"
    }
