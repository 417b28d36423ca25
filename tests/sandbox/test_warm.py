"""The warm analysers' interpreter (harness/sandbox/warm.py): one per cycle, a fork per
request, nothing a request started outlives it, and a request past its limit stops only the
interpreter, which the next request makes again."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from harness.config.settings import load_settings
from harness.sandbox.limits import Limits
from harness.sandbox.shared import service, shared
from harness.sandbox.warm import PREFIX, Warm
from tests.factory_repo import make_factory_repo


def _running(marker: str) -> list[Path]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if marker.encode() in (proc / "cmdline").read_bytes():
                found.append(proc)
        except OSError:
            continue
    return found


@pytest.mark.sandbox
def test_one_interpreter_serves_a_cycle_and_each_request_is_its_own(tmp_path: Path) -> None:
    settings = load_settings(make_factory_repo(tmp_path / "r"), tmp_path / "state")
    warm_up = [{"module": "json.tool", "args": ["--help"]}]
    make = lambda: Warm(settings, Limits(timeout_s=3), warm_up)  # noqa: E731
    with shared():
        warm, owned = service("warm", make)
        assert not owned and service("warm", make) == (warm, False)
        folder = warm.folder / "one"
        folder.mkdir()
        (folder / "data.json").write_text('{"b": 1, "a": [2]}')
        module = {"module": "json.tool", "args": ["--sort-keys", "--compact", "data.json"]}
        assert warm.run(folder, module) == ('{"a":[2],"b":1}\n', "")
        assert warm.proc is not None
        first = warm.proc.pid
        # a process a request leaves behind is gone before the answer
        left = {"shell": "(sleep 612.345 &); echo out; echo err >&2"}
        assert warm.run(folder, left) == ("out\n", "err\n")
        assert _running("612.345") == []
        assert warm.proc.pid == first
        # one past its time limit stops the interpreter; the next request makes another
        text, why = warm.run(folder, {"shell": "sleep 600"})
        assert (text, why) == ("", "stopped: time limit") and warm.proc is None
        answer = warm.run(folder, {"module": "json.tool", "args": ["data.json"]})
        assert json.loads(answer[0]) == {"b": 1, "a": [2]}
        assert warm.proc is not None and warm.proc.pid != first
    assert not warm.folder.exists() and warm.proc is None


def test_a_killed_processs_folder_is_removed_by_the_next_interpreter_made(tmp_path: Path) -> None:
    settings = load_settings(make_factory_repo(tmp_path / "r"), tmp_path / "state")
    never = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # no process has it
    dead = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{never}-"))
    (dead / "tree").mkdir()
    mine = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    warm = Warm(settings, Limits(), [])
    try:
        assert not dead.exists() and mine.exists() and warm.folder.is_dir()
    finally:
        warm.stop()
        shutil.rmtree(mine)
    assert not warm.folder.parent.exists()
