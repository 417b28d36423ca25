"""Workflows above workflows (docs/architecture.md): a ``workflow:`` step runs child workflows,
each run named by its parent's run and step, so the step done again after a kill reads its
children back or resumes them, never runs them again."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from harness.artifacts import AuditInputs, Queue
from harness.engine.actions import action
from harness.engine.context import StepContext
from harness.engine.runner import Engine
from harness.errors import DeferredError
from harness.services import open_services
from tests.cli_helpers import use_actions
from tests.factory_repo import git, make_factory_repo
from tests.test_architecture import modules


@action("test.queue_of_two")
def _queue_of_two(ctx: StepContext) -> Queue:
    return Queue(issues=[1, 2])


def test_a_child_that_finished_before_a_kill_is_read_back_not_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The step done again after a kill: the child run that finished before it is read back
    (nothing said twice), the one left unfinished resumed; the parent's run is the same."""
    use_actions(monkeypatch, _queue_of_two)
    repo = make_factory_repo(tmp_path / "repo")
    folder = repo / ".factory" / "workflows"
    folder.mkdir(parents=True)
    (folder / "pair.yaml").write_text(
        "name: pair\nsteps:\n  - {id: queue, action: test.queue_of_two}\n"
        "  - {id: ack, workflow: ack, each: queue}\n"
    )
    git(repo, "add", "-f", str(folder / "pair.yaml"))
    git(repo, "commit", "-q", "-m", "workflow override")
    services = open_services(repo, tmp_path / "state")
    for title in ("First", "Second"):
        services.forge.create_issue(title, "Its body.", "someone")
    store = services.store
    first = Engine(services).run("pair")
    assert first.status == "succeeded"
    acks = store.list_runs(limit=None, workflow="ack")
    assert sorted(r.issue for r in acks) == [1, 2] and {r.parent for r in acks} == {first.run_id}

    # what a kill inside the parent's step leaves: the parent and its step running, one child
    # finished, the other not
    with store.transaction() as db:
        parent = (first.run_id,)
        db.execute("UPDATE runs SET status = 'running', finished_at = NULL WHERE id = ?", parent)
        db.execute(
            "UPDATE steps SET status = 'running' WHERE run_id = ? AND step_id = 'ack'", parent
        )
        db.execute("UPDATE runs SET status = 'running' WHERE workflow = 'ack' AND issue = 2")
    comments = {n: len(store.comments(n)) for n in (1, 2)}
    resumed = Engine(services).run("pair")
    assert resumed.run_id == first.run_id and resumed.status == "succeeded"
    again = store.list_runs(limit=None, workflow="ack")
    assert sorted((r.id, r.status) for r in again) == sorted((r.id, "succeeded") for r in acks)
    assert {n: len(store.comments(n)) for n in (1, 2)} == comments  # nothing said twice


@action("test.wait")
def _wait(ctx: StepContext, inputs: AuditInputs) -> dict[str, object]:
    raise DeferredError("wait", ctx.services.clock() + 3600)  # the run is left open


def test_a_run_asked_again_with_other_inputs_is_ended_and_one_at_a_default_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine resumes what it owns: a run asked for again resumes, unless it was asked
    with other inputs (an audit of the other kind, a heal of a commit production moved on
    from): that one is ended and a new run starts. An input at its empty default is one not
    given, whichever version wrote it."""
    use_actions(monkeypatch, _wait)
    repo = make_factory_repo(tmp_path / "repo")
    folder = repo / ".factory" / "workflows"
    folder.mkdir(parents=True)
    (folder / "asked.yaml").write_text("name: asked\nsteps:\n  - {id: wait, action: test.wait}\n")
    git(repo, "add", "-f", str(folder / "asked.yaml"))
    git(repo, "commit", "-q", "-m", "workflow override")
    services = open_services(repo, tmp_path / "state")
    engine, store = Engine(services), services.store
    looked = engine.run("asked", inputs=AuditInputs(dry_run=True))
    filing = engine.run("asked", inputs=AuditInputs(dry_run=False))
    assert filing.run_id != looked.run_id and filing.status == "stopped"
    ended = store.get_run(looked.run_id)
    assert ended.status == "failed" and "with other inputs" in str(ended.reason)
    again = engine.run("asked", inputs=AuditInputs())  # false at its default: not given
    assert again.run_id == filing.run_id  # resumed: false is the default, as not given
    assert engine.run("asked").run_id == filing.run_id  # none given: whatever it was asked


SCANS = {"open_runs", "find_open_run"}  # the store's reads of runs left unfinished


def scans(tree: ast.Module) -> list[int]:
    """The lines where ``tree`` looks for runs left unfinished (``store.open_runs(...)``,
    ``find_open_run`` however it is reached, or passed on uncalled)."""
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in SCANS
    )


def test_nothing_above_the_engine_scans_for_runs_left_unfinished() -> None:
    """The engine resumes what it owns: only it (and the store that answers it) reads the
    runs left unfinished; a stage takes them up through its ``workflow:`` step."""
    found = [
        f"{name}:{line}"
        for name, _, tree in modules()
        if not name.startswith(("engine/", "store/"))
        for line in scans(tree)
    ]
    assert found == []


def test_the_scan_check_finds_a_stage_that_looks_for_unfinished_runs() -> None:
    for shape in (
        "for run in services.store.open_runs('implement'):\n    pass\n",
        "run = store.find_open_run('validate', number)\n",
        "look = services.store.find_open_run\n",
    ):
        assert scans(ast.parse(shape)) == [1], shape
