"""File tools stay inside the worktree: a table of escape attempts, each a readable tool error."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import cast

import pytest

from harness.config.models import Commands
from harness.errors import ToolError
from harness.model.blocks import MAX_TOOL_RESULT, Handler
from harness.model.tools import Tool, tool_defs
from harness.sandbox.bwrap import Sandbox
from harness.tools.command import CommandTool
from harness.tools.files import EditFile, FileTools, ListFiles, ReadFile, Search, WriteFile


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
        lambda: tools.read_file(ReadFile(path=path)),
        lambda: tools.write_file(WriteFile(path=path, content="pwned")),
        lambda: tools.edit_file(EditFile(path=path, old_text="x", new_text="y")),
        lambda: tools.list_files(ListFiles(path=path)),
        lambda: tools.search(Search(pattern="x", path=path)),
    ):
        with pytest.raises(ToolError) as info:
            call()
        assert str(info.value) and len(str(info.value)) < 400
    assert (tree.parent / "outside.txt").read_text() == "outside"


def test_reasonable_paths_work(tree: Path) -> None:
    tools = FileTools(tree)
    assert "print" in tools.read_file(ReadFile(path="./src/app.py"))
    assert "print" in tools.read_file(ReadFile(path="src//app.py"))
    assert "print" in tools.read_file(ReadFile(path="src/../src/app.py"))
    assert "print" in tools.read_file(ReadFile(path="link-in"))
    assert "print" in tools.read_file(ReadFile(path=str(tree / "src" / "app.py")))
    assert tools.write_file(WriteFile(path="new/dir/file.txt", content="ok")).startswith("wrote")
    assert (tree / "new" / "dir" / "file.txt").read_text() == "ok"
    listing = tools.list_files(ListFiles())
    assert "src/app.py" in listing and ".git" not in listing
    assert tools.list_files(ListFiles(path="")) == listing  # "": the worktree, as "."
    assert "src/app.py:2:" in tools.search(Search(pattern="SECRET_", path=""))


def test_edit_needs_exactly_one_match_and_bad_input_is_readable(tree: Path) -> None:
    tools = FileTools(tree)
    with pytest.raises(ToolError, match="occurs 0 times"):
        tools.edit_file(EditFile(path="src/app.py", old_text="nope", new_text="x"))
    (tree / "twice.txt").write_text("a a")
    with pytest.raises(ToolError, match="occurs 2 times"):
        tools.edit_file(EditFile(path="twice.txt", old_text="a", new_text="b"))
    assert tools.edit_file(EditFile(path="src/app.py", old_text="'hi'", new_text="'bye'"))
    assert "bye" in (tree / "src" / "app.py").read_text()
    with pytest.raises(ToolError, match="regular expression"):
        tools.search(Search(pattern="("))
    with pytest.raises(ToolError, match="invalid input for read_file: path: 3 is not of type"):
        tools.handlers()["read_file"]({"path": 3})


def test_long_output_is_cut_with_a_note(tree: Path) -> None:
    """A line longer than what the agent loop shows of an answer: its start, and a note that
    fits beside it."""
    (tree / "big.txt").write_text("x" * 50_000)
    out = FileTools(tree).read_file(ReadFile(path="big.txt"))
    assert len(out) <= MAX_TOOL_RESULT and "cut" in out


def test_list_and_search_leave_out_what_set_up_made_and_say_so(tmp_path: Path) -> None:
    for path in (".venv/lib/site.py", "node_modules/x/i.js", "build/out.txt", "x.log",
                 "src/a.py", "src/sub/gen.py", "src/sub/keep.py"):  # fmt: skip
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("needle\n")
    (tmp_path / ".gitignore").write_text("build/\n*.log\n")
    (tmp_path / "src" / "sub" / ".gitignore").write_text("gen.py\n")
    tools = FileTools(tmp_path)
    found = tools.search(Search(pattern="needle"))
    assert found.splitlines()[:2] == ["src/a.py:1: needle", "src/sub/keep.py:1: needle"]
    assert "left out" in found and ".venv/, build/, node_modules/, x.log, src/sub/gen.py" in found
    listed = tools.list_files(ListFiles(path="src")).splitlines()
    assert listed[:3] == ["src/a.py", "src/sub/.gitignore", "src/sub/keep.py"]
    assert "1 environment folders" in listed[3] and "src/sub/gen.py" in listed[3]
    assert tools.search(Search(pattern="needle", path=".venv")) == ".venv/lib/site.py:1: needle"


def declared_fields(tools: dict[str, Handler]) -> dict[str, tuple[set[str], set[str]]]:
    """Each tool's schema properties and its record's fields, where they differ."""
    found = {}
    for name, tool in tools.items():
        assert isinstance(tool, Tool)
        declared = set(tool_defs([name])[0]["input_schema"].get("properties", {}))
        read = {f.name for f in dataclasses.fields(tool.takes)}  # type: ignore[arg-type]
        if declared != read:
            found[name] = (declared, read)
    return found


def test_each_tool_s_record_holds_every_property_its_schema_declares(tree: Path) -> None:
    """Input its schema lets through is never one its record cannot take (a traceback)."""
    box = CommandTool(cast(Sandbox, None), Commands(test="pytest"), [], print)
    assert declared_fields({**FileTools(tree).handlers(), **box.handlers()}) == {}
    wrong = {"read_file": Tool("read_file", ListFiles, FileTools(tree).list_files)}
    assert declared_fields(wrong) == {"read_file": ({"path", "offset", "limit"}, {"path"})}
    # and should a record lag its schema, the model is told, as for any input that does not fit
    with pytest.raises(ToolError, match=r"invalid input for read_file: .*offset"):
        wrong["read_file"]({"path": "a.py", "offset": 2})


def test_every_tool_s_schema_is_closed() -> None:
    """No tool takes a property its schema does not name: the model's JSON is read into the
    tool's record by name, and an unknown key is refused by the schema before it. And each
    is a valid JSON Schema 2020-12 of an object, under a name the API takes (the harness reads
    the shipped file as it is)."""
    import jsonschema
    import yaml

    from harness.paths import workflows_dir

    tools = yaml.safe_load((workflows_dir() / "tools.yaml").read_text())["tools"]
    schemas = {name: spec["input_schema"] for name, spec in tools.items()}
    assert [name for name, s in schemas.items() if s.get("additionalProperties") is not False] == []
    assert {d["name"] for d in tool_defs(list(schemas))} == set(schemas)
    assert [n for n in schemas if not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", n)] == []
    assert [n for n, s in schemas.items() if s.get("type") != "object"] == []
    for schema in schemas.values():
        jsonschema.Draft202012Validator.check_schema(schema)
