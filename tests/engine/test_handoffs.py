"""Typed hand-offs between workflows: persisted by type, found by type and issue; overrides
that break a hand-off are configuration errors; routing by gate name; error kinds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.artifacts import CheckResult, GateResult, IssueSpec, PrCandidate
from harness.config.models import Rules
from harness.engine.actions import action
from harness.engine.context import StepContext
from harness.engine.records import Produced
from harness.engine.runner import Engine
from harness.errors import ConfigErrors, FactoryError, LeaseError, StepFailed
from harness.implement.actions import _outcome_label
from harness.services import open_services
from harness.validate import route as validate_route
from harness.validate.route import decide_route
from tests.cli_helpers import run_cli, use_actions
from tests.factory_repo import git, make_factory_repo
from tests.step_records import by_step
from tests.validate.test_routing import evidence


@action("test.spec")
def _spec(ctx: StepContext) -> Produced[IssueSpec]:
    assert ctx.issue is not None
    spec = IssueSpec(number=ctx.issue, title=f"t{ctx.issue}", decision="accept", kind="bug")
    return Produced(spec, {"comment_id": 7})


@action("test.spec_as_dict")
def _spec_as_dict(ctx: StepContext) -> IssueSpec:
    return {"number": 1, "decision": "accept"}  # type: ignore[return-value]  # not a record


@action("test.lost_lease")
def _lost_lease(ctx: StepContext) -> dict[str, Any]:
    raise LeaseError("run r-1 has no claim any more")  # the word is not in the message


@pytest.fixture(autouse=True)
def _actions(monkeypatch: pytest.MonkeyPatch) -> None:
    use_actions(monkeypatch, _spec, _spec_as_dict, _lost_lease)


def override(repo: Path, name: str, text: str) -> None:
    folder = repo / ".factory" / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(text)
    git(repo, "add", "-f", str(folder / f"{name}.yaml"))
    git(repo, "commit", "-q", "-m", f"override {name}")


def shipped_text(name: str) -> str:
    from harness.paths import workflows_dir

    return (workflows_dir() / f"{name}.yaml").read_text(encoding="utf-8")


# -- artifacts persisted by type, found by type and issue ------------------------------


def test_an_artifact_is_persisted_with_its_type_and_found_by_type_and_issue(
    tmp_path: Path,
) -> None:
    repo = make_factory_repo(tmp_path / "repo")
    override(repo, "specs", "name: specs\nsteps:\n  - {id: whatever_name, action: test.spec}\n")
    services = open_services(repo, tmp_path / "state")
    assert services.store.latest_artifact(IssueSpec, 4) is None
    for issue in (3, 4):
        assert Engine(services).run("specs", issue).status == "succeeded"
    spec = services.store.latest_artifact(IssueSpec, 4)
    assert spec == IssueSpec(number=4, title="t4", decision="accept", kind="bug")
    assert services.store.latest_artifact(PrCandidate, 4) is None  # another type: none
    (record,) = services.store.steps(services.store.list_runs(limit=None, issue=4)[0].id)
    assert record.artifact == "IssueSpec"
    assert record.outputs["comment_id"] == 7 and record.outputs["title"] == "t4"  # plain JSON


def test_an_action_that_returns_other_than_it_declares_fails_its_step(tmp_path: Path) -> None:
    repo = make_factory_repo(tmp_path / "repo")
    override(repo, "bad", "name: bad\nsteps:\n  - {id: a, action: test.spec_as_dict}\n")
    services = open_services(repo, tmp_path / "state")
    outcome = Engine(services).run("bad", 1)
    assert outcome.status == "failed"
    assert "returned no IssueSpec" in str(outcome.reason)
    assert services.store.latest_artifact(IssueSpec, 1) is None


# -- overrides that break a hand-off -----------------------------------------------------


def test_factory_check_refuses_an_override_that_drops_the_pr_validation_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_factory_repo(tmp_path / "repo")
    for name in ("implement", "revert"):  # heal's revert is implement's steps too
        text = shipped_text(name).replace("  - {id: pr, action: implement.open_pr}\n", "")
        override(repo, name, text)
    res = run_cli(capsys, "--repo", str(repo), "check")
    assert res.code == 2
    assert "Traceback" not in res.err and "KeyError" not in res.err
    line = res.err.strip().splitlines()[-1]
    assert line == (
        "factory: error: .factory/workflows/implement.yaml: steps: no step runs "
        "implement.open_pr any more, but workflow validate step 'prepare' "
        "(validate.prepare) needs the PrCandidate it produces"
    )


def test_factory_check_refuses_a_renamed_step_another_step_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_factory_repo(tmp_path / "repo")
    text = shipped_text("validate").replace("id: baseline,", "id: calibrate,")
    text = text.replace("retry_from: baseline", "retry_from: calibrate")
    override(repo, "validate", text)
    res = run_cli(capsys, "--repo", str(repo), "check")
    assert res.code == 2
    assert "Traceback" not in res.err and "KeyError" not in res.err
    assert (
        "factory: error: .factory/workflows/validate.yaml: steps[3] (check): validate.check "
        "needs an earlier step 'baseline' producing Baseline; that step is missing "
        "(renamed or dropped?)"
    ) in res.err.splitlines()
    # and at load time: the run is refused with the same line, before any step (no KeyError)
    services = open_services(repo, tmp_path / "state")
    with pytest.raises(ConfigErrors) as info:
        Engine(services).run("validate", 1)
    assert str(info.value.problems[0]).startswith(".factory/workflows/validate.yaml: steps[3]")
    assert services.store.list_runs(limit=None) == []


def test_a_run_of_another_workflow_is_refused_when_its_input_is_no_longer_produced(
    tmp_path: Path,
) -> None:
    repo = make_factory_repo(tmp_path / "repo")
    text = shipped_text("triage").replace("action: triage.apply", "action: triage.prescreen")
    override(repo, "triage", text)
    services = open_services(repo, tmp_path / "state")
    with pytest.raises(ConfigErrors) as info:
        Engine(services).run("implement", 1)
    assert str(info.value.problems[0]) == (
        ".factory/workflows/triage.yaml: steps: no step runs triage.apply any more, but "
        "workflow implement step 'prepare' (implement.prepare) needs the IssueSpec it produces"
    )


def test_the_shipped_workflows_hand_off_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_factory_repo(tmp_path / "repo")
    override(repo, "triage", shipped_text("triage"))  # an override that keeps every hand-off
    res = run_cli(capsys, "--repo", str(repo), "check")
    assert "workflows" not in res.err, res.err


# -- routing by gate name ----------------------------------------------------------------

RULES = Rules()


def _evidence(ci_ok: bool, unseen: bool) -> tuple[PrCandidate, CheckResult]:
    return evidence(results=("pass", "not_observable") if unseen else ("pass",))


def _a11y(_: validate_route.Evidence) -> GateResult:
    return GateResult(name="accessibility", passed=True, evidence="no violations")


@pytest.mark.parametrize(("ci_ok", "unseen"), [(True, True), (False, True), (True, False)])
def test_routing_reads_gates_by_name_not_position(
    monkeypatch: pytest.MonkeyPatch, ci_ok: bool, unseen: bool
) -> None:
    prepared, checked = _evidence(ci_ok, unseen)
    ci = "success" if ci_ok else "failure"
    before = decide_route(RULES, prepared, checked, ci)
    # a new passing gate after CI, and the shipped gates in another order: the same route
    shuffled = (*reversed(validate_route.VALIDATE_GATES), _a11y)
    monkeypatch.setattr(validate_route, "VALIDATE_GATES", shuffled)
    after = decide_route(RULES, prepared, checked, ci)
    assert (after.route, after.reason) == (before.route, before.reason)
    assert after.gates[-1].name == "accessibility"
    assert {g.name for g in after.gates} == {g.name for g in before.gates} | {"accessibility"}
    if not ci_ok:  # CI alone said no: a person reviews it, whatever gate comes last
        assert after.reason.startswith("CI is failure")


def test_a_new_failing_gate_stops_the_merge_by_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    prepared, checked = _evidence(True, False)
    assert decide_route(RULES, prepared, checked, "success").route == "merge"

    def red(_: validate_route.Evidence) -> GateResult:
        return GateResult(name="accessibility", passed=False, evidence="2 violations")

    monkeypatch.setattr(validate_route, "VALIDATE_GATES", (red, *validate_route.VALIDATE_GATES))
    routing = decide_route(RULES, prepared, checked, "success")
    assert routing.route == "retry"
    assert routing.reason.startswith("accessibility failed")


# -- error kinds -------------------------------------------------------------------------


def test_a_failed_step_records_its_kind(tmp_path: Path) -> None:
    repo = make_factory_repo(tmp_path / "repo")
    override(repo, "lease", "name: lease\nsteps:\n  - {id: a, action: test.lost_lease}\n")
    services = open_services(repo, tmp_path / "state")
    outcome = Engine(services).run("lease", 1)
    assert outcome.status == "failed"
    (record,) = services.store.steps(outcome.run_id)
    assert (record.status, record.error_kind) == ("failed", "lease")


def _ctx_with(failures: dict[str, dict[str, Any]]) -> StepContext:
    failed = by_step(failures, "failed")
    return StepContext(None, "r-x", "implement", None, 1, {}, {}, failed)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("failure", "label"),
    [
        ({"error": "run r-1 has no claim any more", "kind": "lease"}, "factory:needs-human"),
        ({"error": "tests failed: the lease module broke", "kind": "tests"}, "factory:failed"),
        ({"error": "gates failed: size", "kind": "gate"}, "factory:needs-human"),
        ({"error": "the implementer declined: no", "kind": "declined"}, "factory:needs-human"),
        ({"error": "boom", "kind": "internal"}, "factory:failed"),
    ],
)
def test_the_failure_label_reads_the_kind_not_the_message(
    failure: dict[str, Any], label: str
) -> None:
    assert _outcome_label(_ctx_with({"any_step_id": failure})) == label


def test_errors_carry_their_kind() -> None:
    assert LeaseError("x").kind == "lease"
    assert StepFailed("x", {}).kind == "refused"
    assert FactoryError("x").kind == "internal"
