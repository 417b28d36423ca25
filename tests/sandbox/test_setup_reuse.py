"""Set up once per tree: what ``commands.setup`` made is copied into the next tree whose setup
inputs are the same (across steps and issues), never shared writable; a change that touches
a setup input is set up again (offline), and production with other setup inputs too."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.config.settings import load_settings
from harness.git.repo import GitRepo
from harness.git.worktrees import WorktreeManager
from harness.sandbox.bwrap import sandbox_available
from harness.sandbox.policy import Prepared, prepare_worktree, setup_key, worktree_sandbox
from tests.factory_repo import git, make_factory_repo

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(not sandbox_available(), reason="bubblewrap (bwrap) is not installed"),
]
# a venv whose console script names the tree where setup ran, and a mark of the run
SETUP = (
    "python3 -m venv --without-pip .venv && printf '#!%s/.venv/bin/python3\\nimport sys\\n"
    'print(sys.prefix)\\n\' "$PWD" > .venv/bin/hello && chmod +x .venv/bin/hello && '
    "od -An -N8 -tx8 /dev/urandom > made.txt"
)


def test_a_set_up_tree_is_copied_while_its_setup_inputs_are_the_same(tmp_path: Path) -> None:
    config = {"commands": {"test": "true", "setup": SETUP}, "network": {"allow": []}}
    repo = make_factory_repo(tmp_path / "repo", config=config)
    (repo / ".gitignore").write_text(".factory/\n.venv/\nmade.txt\n")
    (repo / "requirements.txt").write_text("one\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "inputs")
    main = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-qb", "change")
    (repo / "requirements.txt").write_text("two\n")  # a setup input, changed by a change
    git(repo, "commit", "-qam", "another requirement")
    change = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "main")
    settings = load_settings(repo, tmp_path / "state")
    trees = WorktreeManager.of(GitRepo(repo), settings.state_dir)

    def prepared(name: str, trusted: str, head: str) -> tuple[Path, Prepared]:
        path = trees.create_detached(trusted, name)
        return path, prepare_worktree(settings, path, trusted, head)

    first, ran = prepared("first", main, main)
    again, reused = prepared("again", main, main)
    assert ran.online is not None and reused.online is None and reused.problem is None
    assert (again / "made.txt").read_text() == (first / "made.txt").read_text()
    hello = worktree_sandbox(settings, again).run(".venv/bin/hello && echo x > made.txt")
    assert hello.exit_code == 0 and hello.output.startswith("/factory/tree/.venv"), hello.output
    assert (first / "made.txt").read_text() != "x\n"  # a copy, never shared writable
    touched, offline = prepared("touched", main, change)  # the change alters a setup input
    assert offline.online is None and offline.offline is not None
    assert offline.inputs_changed == ("requirements.txt",)
    assert (touched / "made.txt").read_text() != (first / "made.txt").read_text()
    moved, fresh = prepared("moved", change, change)  # production with other setup inputs
    assert fresh.online is not None and fresh.online.exit_code == 0
    for path in (first, again, touched, moved):
        trees.remove(path)


def test_a_tree_s_setup_key_is_kept_per_setup_command_and_inputs(tmp_path: Path) -> None:
    """``setup_key`` is kept by the process per tree (matching every path of a large tree
    against the inputs is the costly part), and per ``commands.setup`` and its inputs too:
    the same tree set up by another command, or read for other inputs, has another key."""
    config = {"commands": {"test": "true", "setup": "make deps"}}
    repo = make_factory_repo(tmp_path / "repo", config=config)
    (repo / "requirements.txt").write_text("one\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "inputs")
    settings = load_settings(repo, tmp_path / "state")
    head = GitRepo(repo).rev_parse("HEAD")
    assert head is not None

    def key(**commands: object) -> str:
        changed = settings.config.commands.model_copy(update=commands)
        config = settings.config.model_copy(update={"commands": changed})
        return setup_key(dataclasses.replace(settings, config=config), GitRepo(repo), head)

    first = key()
    assert key() == first  # kept: the same tree, command and inputs
    assert key(setup="make other") != first
    assert key(setup_inputs=["pyproject.toml"]) != first
