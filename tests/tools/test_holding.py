"""Limits that count what matters: files as well as bytes, per command and per worktree,
without walking the worktree before every command."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.sandbox import holding
from harness.sandbox.bwrap import Sandbox, sandbox_available
from harness.sandbox.limits import Limits
from harness.tools.files import FileTools, WriteFile

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(not sandbox_available(), reason="bubblewrap (bwrap) is not installed"),
]
MANY = "mkdir -p d && python3 -c \"[open(f'd/{i}', 'w').close() for i in range(300000)]\""


class Calls:
    """Counts the calls of a function and still makes them (the walk, ``lchown``)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn, self.count, self.calls = fn, 0, list[dict[str, Any]]()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.count += 1
        self.calls.append(dict(zip(("top", "hand_over"), args, strict=False)) | kwargs)
        return self.fn(*args, **kwargs)

    def handing_over(self) -> int:
        """The walks that handed the worktree over (``walk(top, True, …)``): one per process."""
        return sum(1 for call in self.calls if call.get("hand_over") is True)


def test_300000_files_are_stopped_by_the_file_cap_and_the_next_command_walks_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wt = tmp_path / "w"
    wt.mkdir()
    (wt / "kept.txt").write_text("kept\n")
    box = Sandbox(wt, Limits(timeout_s=600, max_new_files=20_000))
    walks, chowns = Calls(holding.walk), Calls(os.lchown)
    monkeypatch.setattr(holding, "walk", walks)
    monkeypatch.setattr(os, "lchown", chowns)
    result = box.run(MANY)
    assert result.limit_hit == "files" and result.exit_code == 124
    assert "[file limit: the command was stopped: it created more than 20,000 files" in (
        result.output
    )
    created = len(os.listdir(wt / "d"))
    assert 20_000 < created < 300_000  # stopped on the way, not after
    # walked and handed over once before its first command, and counted again before the
    # refusal (more than once when others' files on the same file system moved the counters
    # on the way: a limit is only reported from an exact count) and after it
    handed = 1 if os.geteuid() == 0 else 0
    assert walks.handing_over() == handed and walks.count >= 3
    first_chowns = chowns.count
    assert first_chowns == (2 if os.geteuid() == 0 else 0)  # kept.txt and the folder itself

    nxt = box.run("cat kept.txt; ls d | wc -l")
    assert nxt.exit_code == 0 and nxt.output.startswith("kept\n")
    assert walks.handing_over() == handed and chowns.count == first_chowns  # no hand-over again


def test_a_worktree_holding_too_many_files_is_refused_after_an_exact_count(
    tmp_path: Path,
) -> None:
    wt = tmp_path / "w"
    wt.mkdir()
    box = Sandbox(wt, Limits(timeout_s=120, max_new_files=3_000, max_files=4_000))
    # others' files on the same file system may show in its counters, never in a refusal
    for batch in range(2):  # each command stays under the per-command cap
        done = box.run(f"mkdir -p b{batch} && cd b{batch} && seq 1 2500 | xargs touch")
        assert done.limit_hit is None if batch == 0 else done.limit_hit == "files", done.output
    held = re.search(r"now holds more than 4,000 \(about ([\d,]+)\)", done.output)
    assert held and int(held[1].replace(",", "")) > 4_000, done.output
    assert box.run("rm -rf b1").limit_hit is None  # a command that makes room is not stopped
    assert box.run("touch ok").limit_hit is None


def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(6000):  # a bound for a broken build, not a timing: each look waits 10 ms
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def test_others_growth_after_a_count_is_counted_again_never_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counters are the whole file system's: files others create while a command runs,
    even after its worktree was counted once, never stop it."""
    wt, others = tmp_path / "w", tmp_path / "others"
    wt.mkdir()
    others.mkdir()
    gate = wt / "go"
    os.mkfifo(gate, 0o666)
    box = Sandbox(wt, Limits(timeout_s=600, max_new_files=3_000, max_files=4_000))
    walks, looks = Calls(holding.walk), Calls(holding.counters)
    monkeypatch.setattr(holding, "walk", walks)
    monkeypatch.setattr(holding, "counters", looks)
    result: list[Any] = []
    command = "mkdir b && cd b && seq 1 2500 | xargs touch && cat ../go >/dev/null && touch ok"
    runner = threading.Thread(target=lambda: result.append(box.run(command)))
    runner.start()
    _until(lambda: (wt / "b").is_dir() and len(os.listdir(wt / "b")) == 2500, "2,500 files")
    made = 0
    for wave in range(2):  # each wave passes the cap in the counters; the second after a count
        counted = walks.count
        # others on this file system may delete files meanwhile (another suite's worktrees,
        # tens of thousands of files at once): add more until the meter counts, as it must
        for _ in range(400):
            for _ in range(700):
                (others / str(made)).touch()
                made += 1
            seen = looks.count
            _until(lambda seen=seen: looks.count >= seen + 2, "the meter's next look")
            if walks.count > counted:
                break
        assert walks.count > counted, f"no count after wave {wave}"
    with contextlib.suppress(OSError):  # no reader: the command ended already (refused)
        os.close(os.open(gate, os.O_WRONLY | os.O_NONBLOCK))
    runner.join()
    (done,) = result
    assert done.limit_hit is None and done.exit_code == 0, done.output
    assert (wt / "b" / "ok").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="handing over to another uid needs root")
def test_what_the_harness_writes_after_the_hand_over_is_the_sandboxs(tmp_path: Path) -> None:
    wt = tmp_path / "w"
    wt.mkdir()
    box = Sandbox(wt, Limits(timeout_s=30))
    assert box.run("mkdir made").exit_code == 0
    FileTools(wt).write_file(WriteFile(path="new/deep/file.txt", content="from the harness\n"))
    for path in (wt / "new", wt / "new" / "deep", wt / "new" / "deep" / "file.txt"):
        assert path.lstat().st_uid == holding.SANDBOX_UID, path
    result = box.run("echo more >> new/deep/file.txt && rm -r made && echo ok")
    assert result.exit_code == 0 and result.output.strip().endswith("ok"), result.output
