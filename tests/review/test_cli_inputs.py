"""Bad input to approve and reject: one line on stderr and exit 2, nothing recorded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness.store.db import Store
from tests.cli_helpers import run_cli, spawn
from tests.forge.shared_scenario import Output, isolated_env
from tests.validate.conftest import make_app


@pytest.fixture(scope="module")
def filed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app (``make_app``) and its state, issue 1 filed by the owner and accepted, made
    once: each test works on a copy of both (a new repository and store cost more than the
    command a test runs)."""
    root = tmp_path_factory.mktemp("filed")
    with isolated_env(root / "state"), Output() as out:
        repo, _ = make_app(root / "app")
        res = run_cli(out, "--repo", str(repo), "issue", "new", "--title", "A", "--author", "owner")
        assert res.code == 0, res.err
        labelled = run_cli(out, "--repo", str(repo), "issue", "label", "1", "factory:accepted")
        assert labelled.code == 0
    return root


@pytest.mark.parametrize(
    "args",
    [
        ("approve", str(2**70)),
        ("approve", "0"),
        ("reject", "1"),  # no --reason
        ("reject", "1", "--reason", "   "),
        ("reject", "1", "--reason", "bell\x07"),
        ("reject", "1", "--reason", "x" * 2001),
        ("approve", "1", "--by", "two words"),
        ("approve", "1", "--by", ""),
        ("approve", "1"),  # open, but accepted: not waiting for a person
        ("reject", "1", "--reason", "no"),
        ("approve", "99"),  # no such issue
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys, filed: Path, args) -> None:
    shutil.copytree(filed / "state", tmp_path / "state")
    repo = shutil.copytree(filed / "app", tmp_path / "app", symlinks=True) / "notes"
    res = run_cli(capsys, "--repo", str(repo), *args)
    assert res.code == 2 and len(res.err.splitlines()) == 1, res.err
    assert "Traceback" not in res.err and res.out == ""
    events = Store.open(tmp_path / "state").events()
    assert not [e for e in events if e.kind in ("human.approve", "human.reject")]


def test_a_rejection_killed_after_its_labels_is_finished_by_the_next(
    capsys, app, monkeypatch
) -> None:
    """``kill -9`` between a rejection's labels and its comment: rejecting again finishes the
    one recorded (its actor and reason), with one comment, and records nothing more."""
    repo, _ = app
    cli = ("--repo", str(repo))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-unused")  # the demo's provider needs one
    assert run_cli(capsys, *cli, "issue", "new", "--title", "A", "--author", "owner").code == 0
    assert run_cli(capsys, *cli, "issue", "label", "1", "factory:needs-review").code == 0
    at = {**os.environ, "FACTORY_FAULT_AT": "forge.state.added"}
    killed = spawn(repo, at, "reject", "1", "--reason", "not now", "--by", "bob")
    assert killed.wait(120) == -9, killed.communicate()
    res = run_cli(capsys, *cli, "reject", "1", "--reason", "again", "--by", "carol")
    assert res.code == 0 and "rejected by bob" in res.out, res.err
    data = run_cli(capsys, *cli, "issue", "show", "1", "--json").json()
    assert data["state"] == "closed" and data["labels"] == ["factory:rejected"]
    (said,) = [c["body"] for c in data["comments"]]
    assert "bob" in said and "not now" in said and "carol" not in said
    assert run_cli(capsys, *cli, "reject", "1", "--reason", "x").code == 2  # not waiting now
