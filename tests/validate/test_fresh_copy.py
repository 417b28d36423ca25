"""A fresh app's folder: a copy of the prepared checkout, nothing shared with the original."""

from __future__ import annotations

import os
from pathlib import Path

from harness.validate.evidence import copy_checkout


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
