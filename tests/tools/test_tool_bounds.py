"""Agent tools run on the harness's threads, so none may stall it: a search pattern that
backtracks for days in Python's ``re`` completes, other threads keep running meanwhile, a
200 MB file is read in slices without being loaded, and every listing is bounded."""

from __future__ import annotations

import re
import threading
import tracemalloc
from pathlib import Path

import pytest

from harness.errors import ToolError
from harness.model.blocks import MAX_TOOL_RESULT, cap
from harness.tools import files
from harness.tools.files import FileTools, ListFiles, ReadFile, Search

CATASTROPHIC = "(a+)+$"  # exponential in Python's re on "aaaa…a!"


def test_a_catastrophic_pattern_completes_while_another_thread_progresses(
    tmp_path: Path,
) -> None:
    line = "a" * 40 + "!\n"  # 2**40 paths for a backtracking engine, on every line
    for i in range(20):
        (tmp_path / f"f{i}.txt").write_text(line * 20_000)  # 16 MB to search in all
    ticks = 0
    done = threading.Event()

    def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            done.wait(0.001)

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        before = ticks
        out = FileTools(tmp_path).search(Search(pattern=CATASTROPHIC))
        during = ticks - before
    finally:
        done.set()
        ticker.join()
    assert out == "(no matches)"
    assert during > 0  # the search held no lock the other thread needed

    (tmp_path / "g.txt").write_text("aaaa\n")
    assert FileTools(tmp_path).search(Search(pattern=CATASTROPHIC)) == "g.txt:1: aaaa"


@pytest.mark.parametrize("pattern", [r"(a)\1", r"foo(?=bar)", r"(?<!x)y"])
def test_patterns_re2_cannot_run_are_a_readable_tool_error(tmp_path: Path, pattern: str) -> None:
    with pytest.raises(ToolError, match="RE2 syntax, which runs in linear time"):
        FileTools(tmp_path).search(Search(pattern=pattern))


def _numbered(first: int, count: int) -> bytes:
    return b"".join(b"line %07d " % i + b"." * 86 + b"\n" for i in range(first, first + count))


def test_a_200_mb_file_is_read_in_slices_near_its_end_without_loading_it(tmp_path: Path) -> None:
    big = tmp_path / "big.log"
    lines, filler = 2_000_000, b"." * 99 + b"\n"
    with big.open("wb") as out:
        for _ in range(199):
            out.write(filler * 10_000)
        out.write(_numbered(1_990_001, 10_000))  # the last lines say their number
    assert big.stat().st_size == 200_000_000
    tools = FileTools(tmp_path)
    tracemalloc.start()
    try:
        out = tools.read_file(ReadFile(path="big.log", offset=lines - 2, limit=2))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.splitlines()[0].startswith("line 1999998 ")
    assert out.splitlines()[1].startswith("line 1999999 ")
    assert out.endswith("more follows: read on with offset=2000000]")
    assert peak < 8_000_000  # streamed: a block or two at a time, never the file
    assert tools.read_file(ReadFile(path="big.log", offset=lines)).startswith("line 2000000 ")
    with pytest.raises(ToolError, match="fewer than 2,000,001 lines"):
        tools.read_file(ReadFile(path="big.log", offset=lines + 1))


def test_a_cut_file_says_how_to_read_on_and_reading_on_gives_the_rest(tmp_path: Path) -> None:
    """The case found on a real repository: a 20,052-character test file. The answer fits
    the agent loop's limit whole, so the note saying where to read on reaches the model."""
    text = "".join(f"line {i:03d} " + "x" * 90 + "\n" for i in range(200)) + "y" * 51 + "\n"
    assert len(text) == 20_052
    (tmp_path / "test_big.py").write_text(text)
    tools = FileTools(tmp_path)
    first = tools.read_file(ReadFile(path="test_big.py"))
    assert len(first) <= MAX_TOOL_RESULT and cap(first) == first
    note = re.search(r"\[lines 1-(\d+) of test_big.py shown; more follows: read on with "
                     r"offset=(\d+)\]$", first)  # fmt: skip
    assert note and int(note[2]) == int(note[1]) + 1
    rest = tools.read_file(ReadFile(path="test_big.py", offset=int(note[2])))
    assert first[: note.start() - 1] + rest == text
    assert tools.read_file(ReadFile(path="test_big.py", offset=2, limit=1)).startswith("line 001")
    (tmp_path / "one.txt").write_text("y" * 50_000 + "\nafter\n")
    long = tools.read_file(ReadFile(path="one.txt"))
    assert long.endswith("its start is shown. Read on with offset=2]") and cap(long) == long
    assert tools.read_file(ReadFile(path="one.txt", offset=2)) == "after\n"
    read = tools.handlers()["read_file"]  # as the model calls it: its input checked first
    for bad, why in ((0, "less than the minimum of 1"), ("3", "not of type 'integer'")):
        with pytest.raises(ToolError, match=f"invalid input for read_file: offset: .* is {why}"):
            read({"path": "one.txt", "offset": bad})
    with pytest.raises(ToolError, match="True is not of type 'integer'"):
        read({"path": "one.txt", "offset": True})


def test_listing_and_search_walk_a_bounded_number_of_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "MAX_VISITED", 500)
    for i in range(40):
        folder = tmp_path / f"d{i:02d}"
        folder.mkdir()
        for j in range(50):
            (folder / f"f{j:02d}.txt").write_text("needle\n")
    tools = FileTools(tmp_path)
    listed = tools.list_files(ListFiles())
    assert listed.endswith("[cut: the first 500 entries looked at]")
    assert listed.splitlines()[0] == "d00/f00.txt" and len(listed.splitlines()) < 500
    found = tools.search(Search(pattern="needle"))
    assert "[cut at 200 matches]" in found
    (tmp_path / "d00" / "huge.txt").write_text("needle\n" * 400_000)
    monkeypatch.setattr(files, "MAX_SEARCH_FILE", 1_000_000)
    found = tools.search(Search(pattern="needle", path="d00"))
    assert "not searched, larger than 1,000,000 bytes: d00/huge.txt" in found
