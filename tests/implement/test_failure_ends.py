"""However a run fails, the issue ends with one comment a person can read and exactly one
state label: no template crashes on evidence that lacks a field, no internal error is posted,
``factory:accepted`` never stays beside a terminal label, and a failed issue is not triaged
again."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness.engine.actions import call
from harness.engine.context import StepContext
from harness.engine.workflow import Step
from harness.errors import ErrorKind
from harness.forge.base import STATE_LABELS
from harness.services import open_services
from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.factory_repo import make_factory_repo
from tests.forge.shared_scenario import isolated_env
from tests.implement.conftest import make_app_repo
from tests.step_records import by_step

INTERNAL = "/srv/factory/worktrees/x: OSError 5 in harness/foo.py:12"
CRASHES = ("Traceback", "has no attribute", "(template)", "undefined", "dict object")


def _factory_comments(capsys, repo: Path, number: int) -> list[str]:
    shown = run_cli(capsys, "--repo", str(repo), "issue", "show", str(number), "--json").json()
    return [c["body"] for c in shown["comments"] if c["body"].startswith("<!-- factory:")]


def _states(capsys, repo: Path, number: int) -> set[str]:
    shown = run_cli(capsys, "--repo", str(repo), "issue", "show", str(number), "--json").json()
    return set(shown["labels"]) & set(STATE_LABELS)


def test_an_empty_nested_repository_ends_with_one_reason_and_one_terminal_label(
    tmp_path: Path, capsys, standin
) -> None:
    """The implementer runs 'git init sub' in its worktree: the run fails (or a gate refuses
    the nested repository); either way the public comment is a sentence, not a template
    error, and the next cycle neither triages the issue again nor adds factory:accepted."""
    repo = make_app_repo(tmp_path)
    new = ("issue", "new", "--title", "Vendor the widget", "--body", "Please.", "--author", "owner")
    number = run_cli(capsys, "--repo", str(repo), *new, "--json").json()["number"]
    first = run_cli(capsys, "--repo", str(repo), "run", "--once", "--json")
    (row,) = first.json()["implement"]
    assert row["status"] == "failed" and "(template)" not in row["reason"], row
    again = run_cli(capsys, "--repo", str(repo), "run", "--once", "--json").json()
    assert again["triage"] == [] and again["implement"] == [], again  # nothing done twice
    states = _states(capsys, repo, number)
    assert states in ({"factory:failed"}, {"factory:needs-human"}), states
    comments = _factory_comments(capsys, repo, number)
    ended = [c for c in comments if c.startswith("<!-- factory:implement:")]
    assert len(ended) == 1 and len(comments) == 2, comments  # triage's, then this one
    said = ended[0].split("\n", 2)[1]
    assert said.startswith(("**Failed.** ", "**Stopped: needs a maintainer.** ")), said
    assert said.endswith(".") and not any(c in ended[0] for c in CRASHES), ended[0]


def _run_fail(services, action: str, number: int, failures: dict) -> None:
    run = services.store.create_run(action.split(".")[0], number, {}, {})
    step = Step(id="on_failure", action=action)
    failed = by_step(failures, "failed")
    ctx = StepContext(services, run.id, run.workflow, step, number, {}, {}, failed)
    call(action, ctx)


@pytest.fixture(scope="module")
def governed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with valid governance files and a new state beside it, made once: each
    test works on a copy of both (a new store's migrations cost more than a test's work)."""
    root = tmp_path_factory.mktemp("governed")
    with isolated_env(root / "state"):
        Store.open(root / "state").close()
        return make_factory_repo(root / "repo")


@pytest.mark.parametrize("kind", [k.value for k in ErrorKind])
@pytest.mark.parametrize("action", ["implement.fail", "validate.fail"])
def test_every_kind_of_failure_is_said_in_a_sentence_under_one_state_label(
    tmp_path: Path, capsys, governed: Path, action: str, kind: str
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(governed, repo, symlinks=True)
    state = shutil.copytree(governed.parent / "state", Path(os.environ["FACTORY_STATE_DIR"]))
    services = open_services(repo, state)
    number = services.forge.create_issue("A change", "Please.", "owner").number
    services.forge.add_labels(number, ["factory:accepted", "factory:in-progress", "kind:bug"])
    failures = {  # evidence missing every field a template might want
        "test": {"error": "tests failed", "kind": "tests"},
        "gates": {"error": "gates failed: nested", "kind": "gate", "gates": [{"name": "nested"}]},
        "code": {"error": INTERNAL, "kind": kind},
    }
    _run_fail(services, action, number, failures)
    states = _states(capsys, repo, number)
    assert states in ({"factory:failed"}, {"factory:needs-human"}), states
    (comment,) = _factory_comments(capsys, repo, number)
    assert not any(c in comment for c in CRASHES), comment
    said = comment.split("\n", 2)[1]
    if kind in ("git", "sandbox", "config", "model", "agent", "forge", "internal"):
        assert "`code` could not finish" in said and "factory report" in said, said
    else:  # the factory worded these for people: said as they are
        assert INTERNAL[:20] in said.replace("\\", ""), said


@pytest.mark.timeout(300)
def test_killed_between_two_labels_the_next_cycle_finishes_the_failure_once(
    tmp_path: Path, capsys, standin
) -> None:
    """Killed after the terminal label was added and before the old ones went (accepted and
    failed side by side, no comment yet): the next cycle resumes the run that was ending,
    whatever its labels say, and it ends as it would have, with one comment."""
    from tests.cli_helpers import spawn
    from tests.implement.conftest import KEY, accepted_issue

    repo = make_app_repo(tmp_path)
    number = accepted_issue(capsys, repo, "Make it fail")
    env = {
        **os.environ,
        "ANTHROPIC_API_KEY": KEY,
        "ANTHROPIC_BASE_URL": standin.url,
        "FACTORY_STATE_DIR": os.environ["FACTORY_STATE_DIR"],
    }
    killed = spawn(repo, {**env, "FACTORY_FAULT_AT": "forge.state.added"}, "implement", str(number))
    killed.communicate(timeout=240)
    assert killed.returncode == -9
    assert {"factory:accepted", "factory:failed"} <= _states(capsys, repo, number)
    assert _factory_comments(capsys, repo, number)[1:] == []  # triage's only
    calls = len(standin.received)
    again = run_cli(capsys, "--repo", str(repo), "run", "--once", "--json").json()
    assert again["triage"] == [] and [r["status"] for r in again["implement"]] == ["failed"]
    assert len(standin.received) == calls  # the ending was finished, nothing redone
    assert _states(capsys, repo, number) == {"factory:failed"}
    ended = _factory_comments(capsys, repo, number)[1:]
    assert len(ended) == 1 and "still broken" in ended[0], ended
    assert run_cli(capsys, "--repo", str(repo), "run", "--once", "--json").json()["implement"] == []
