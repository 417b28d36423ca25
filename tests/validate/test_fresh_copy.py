"""A fresh app's folder: a copy of the prepared checkout, nothing shared with the original."""

from __future__ import annotations

import os
from pathlib import Path

from harness.config.settings import load_settings
from harness.sandbox.policy import TREE, worktree_sandbox
from harness.validate.evidence import copy_checkout, fresh_copy
from tests.factory_repo import make_factory_repo


def test_a_copy_holds_files_and_links_but_no_git_and_no_special_files(tmp_path: Path) -> None:
    source, target = tmp_path / "checkout", tmp_path / "fresh"
    (source / "data").mkdir(parents=True)
    (source / "app.py").write_text("print('app')\n")
    (source / "data" / "notes.json").write_text("[]")
    (source / ".git").write_text("gitdir: /elsewhere\n")
    (source / "link").symlink_to("/etc/hostname")
    os.mkfifo(source / "pipe")  # a FIFO would block a naive copy forever

    copy_checkout(source, target)

    assert (target / "app.py").read_text() == "print('app')\n"
    assert (target / "data" / "notes.json").read_text() == "[]"
    assert (target / "link").is_symlink() and os.readlink(target / "link") == "/etc/hostname"
    assert not (target / ".git").exists() and not (target / "pipe").exists()
    (target / "data" / "notes.json").write_text('["Buy milk"]')  # a check writes its data
    assert (source / "data" / "notes.json").read_text() == "[]"  # the next copy starts clean


def test_a_copy_runs_where_setup_made_it(tmp_path: Path) -> None:
    """Setup writes absolute paths into the tree it runs in — a venv's console scripts start
    with ``#!<tree>/.venv/bin/python3``, an editable install points at the tree — and every
    sandboxed command is shown its tree at one path (``TREE``), so those paths hold in every
    fresh copy, wherever it lies; what a check writes stays in its copy."""
    repo = make_factory_repo(tmp_path / "repo")
    settings = load_settings(repo, tmp_path / "state")
    prepared = tmp_path / "worktrees" / "prepared"
    prepared.mkdir(parents=True)
    (prepared / "hello").write_text(  # as pip writes a console script: setup's path in it
        "#!@TREE@/.venv/bin/python3\nimport os, sys\n"
        "open('written.txt', 'w').write('by the check')\n"
        "print('hello from', sys.prefix, 'in', os.getcwd())\n"
    )
    setup = (
        'python3 -m venv --without-pip .venv && sed "s|@TREE@|$PWD|" hello > .venv/bin/hello'
        " && chmod +x .venv/bin/hello"
    )
    assert worktree_sandbox(settings, prepared).run(setup).exit_code == 0

    with fresh_copy(settings, prepared, "t-seen-as") as copy:
        ran = worktree_sandbox(settings, copy).run(".venv/bin/hello")
        assert ran.exit_code == 0, ran.output
        assert (copy / "written.txt").read_text() == "by the check"
    assert f"hello from {TREE}/.venv in {TREE}" in ran.output
    assert not (prepared / "written.txt").exists()  # the prepared checkout stays as it was
