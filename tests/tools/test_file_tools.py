"""File tools stay inside the worktree: a table of escape attempts, each a readable tool error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.errors import ToolError
from harness.tools.files import FileTools


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    wt = tmp_path / "wt"
    (wt / "src").mkdir(parents=True)
    (wt / "src" / "app.py").write_text("print('hi')\nSECRET_NAME = 1\n")
    (wt / ".git").write_text("gitdir: /elsewhere\n")
    (tmp_path / "wt-evil").mkdir()
    (tmp_path / "wt-evil" / "x.txt").write_text("outside")
    (tmp_path / "outside.txt").write_text("outside")
    os.symlink(tmp_path / "outside.txt", wt / "link-out")
    os.symlink(wt / "src" / "app.py", wt / "link-in")
    os.symlink("/etc", wt / "etc-link")
    return wt


ESCAPES = [
    "../outside.txt",
    "src/../../outside.txt",
    "/etc/passwd",
    "/proc/self/environ",
    "/sys/kernel",
    "/dev/null",
    "link-out",
    "etc-link/passwd",
    ".git",
    ".git/hooks/pre-commit",
    ".GIT/config",
    "src/../.git/config",
    "%2e%2e/outside.txt",
    "..%2foutside.txt",
    "src/app.py\x00.txt",
    "..\\outside.txt",
    "~/.bashrc",
    "../wt-evil/x.txt",
    "a" * 5000,
]


@pytest.mark.parametrize("path", ESCAPES)
def test_escapes_are_refused_for_every_tool(tree: Path, path: str) -> None:
    tools = FileTools(tree)
    for call in (
        lambda: tools.read_file({"path": path}),
        lambda: tools.write_file({"path": path, "content": "pwned"}),
        lambda: tools.edit_file({"path": path, "old_text": "x", "new_text": "y"}),
        lambda: tools.list_files({"path": path}),
        lambda: tools.search({"pattern": "x", "path": path}),
    ):
        with pytest.raises(ToolError) as info:
            call()
        assert str(info.value) and len(str(info.value)) < 400
    assert (tree.parent / "outside.txt").read_text() == "outside"


def test_reasonable_paths_work(tree: Path) -> None:
    tools = FileTools(tree)
    assert "print" in tools.read_file({"path": "./src/app.py"})
    assert "print" in tools.read_file({"path": "src//app.py"})
    assert "print" in tools.read_file({"path": "src/../src/app.py"})
    assert "print" in tools.read_file({"path": "link-in"})
    assert "print" in tools.read_file({"path": str(tree / "src" / "app.py")})
    assert tools.write_file({"path": "new/dir/file.txt", "content": "ok"}).startswith("wrote")
    assert (tree / "new" / "dir" / "file.txt").read_text() == "ok"
    listing = tools.list_files({})
    assert "src/app.py" in listing and ".git" not in listing
    assert "src/app.py:2:" in tools.search({"pattern": "SECRET_"})


def test_edit_needs_exactly_one_match_and_bad_input_is_readable(tree: Path) -> None:
    tools = FileTools(tree)
    with pytest.raises(ToolError, match="occurs 0 times"):
        tools.edit_file({"path": "src/app.py", "old_text": "nope", "new_text": "x"})
    (tree / "twice.txt").write_text("a a")
    with pytest.raises(ToolError, match="occurs 2 times"):
        tools.edit_file({"path": "twice.txt", "old_text": "a", "new_text": "b"})
    assert tools.edit_file({"path": "src/app.py", "old_text": "'hi'", "new_text": "'bye'"})
    assert "bye" in (tree / "src" / "app.py").read_text()
    with pytest.raises(ToolError, match="regular expression"):
        tools.search({"pattern": "("})
    with pytest.raises(ToolError, match="must be a string"):
        tools.read_file({"path": 3})


def test_long_output_is_cut_with_a_note(tree: Path) -> None:
    (tree / "big.txt").write_text("x" * 50_000)
    out = FileTools(tree, max_output_chars=1000).read_file({"path": "big.txt"})
    assert len(out) < 1200 and "cut" in out


def test_list_and_search_leave_out_what_set_up_made_and_say_so(tmp_path: Path) -> None:
    for path in (".venv/lib/site.py", "node_modules/x/i.js", "build/out.txt", "x.log",
                 "src/a.py", "src/sub/gen.py", "src/sub/keep.py"):  # fmt: skip
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("needle\n")
    (tmp_path / ".gitignore").write_text("build/\n*.log\n")
    (tmp_path / "src" / "sub" / ".gitignore").write_text("gen.py\n")
    tools = FileTools(tmp_path)
    found = tools.search({"pattern": "needle"})
    assert found.splitlines()[:2] == ["src/a.py:1: needle", "src/sub/keep.py:1: needle"]
    assert "left out" in found and ".venv/, build/, node_modules/, x.log, src/sub/gen.py" in found
    listed = tools.list_files({"path": "src"}).splitlines()
    assert listed[:3] == ["src/a.py", "src/sub/.gitignore", "src/sub/keep.py"]
    assert "1 environment folders" in listed[3] and "src/sub/gen.py" in listed[3]
    assert tools.search({"pattern": "needle", "path": ".venv"}) == ".venv/lib/site.py:1: needle"
