"""The warm analysers' interpreter (harness/sandbox/warm.py): one per cycle, a fork per
request, nothing a request started outlives it, and a request past its limit stops only the
interpreter, which the next request makes again."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from harness.analysers import run_analysers, warm_up, workspace
from harness.config.settings import load_settings
from harness.sandbox.forks import Ask
from harness.sandbox.limits import Limits
from harness.sandbox.policy import TREE
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
        assert warm.run(folder, [module]) == [('{"a":[2],"b":1}\n', "")]
        assert warm.proc is not None
        first = warm.proc.pid
        # a process a request leaves behind is gone before the answer
        left = {"shell": "(sleep 612.345 &); echo out; echo err >&2"}
        assert warm.run(folder, [left]) == [("out\n", "err\n")]
        assert _running("612.345") == []
        assert warm.proc.pid == first
        # one past its time limit stops the interpreter; the next request makes another
        [(text, why)] = warm.run(folder, [{"shell": "sleep 600"}])
        assert (text, why) == ("", "stopped: time limit") and warm.proc is None
        [answer] = warm.run(folder, [{"module": "json.tool", "args": ["data.json"]}])
        assert json.loads(answer[0]) == {"b": 1, "a": [2]}
        assert warm.proc is not None and warm.proc.pid != first
    assert not warm.folder.exists() and warm.proc is None


def _said(setup: str) -> Ask:
    """An ask whose module runs ``setup`` (Python): ``timeit`` runs it once, then ``pass``."""
    return {"module": "timeit", "args": ["-n", "1", "-r", "1", "-s", setup, "pass"]}


@pytest.mark.sandbox
def test_the_asks_of_one_request_share_one_fork_and_an_ask_it_never_answered_is_an_error(
    tmp_path: Path,
) -> None:
    """The asks of one request run one after another in ONE fork, each with its own output,
    standard error and folder; a fork that dies part-way (a signal) leaves each ask it did not
    answer answered by why, never by an empty output, and the interpreter serves on."""
    settings = load_settings(make_factory_repo(tmp_path / "r"), tmp_path / "state")
    warm = Warm(settings, Limits(timeout_s=60), [])
    folder = warm.folder / "one"
    folder.mkdir()
    where = "import os, sys; print(os.getpid(), os.getcwd()); print('err', file=sys.stderr)"
    spoils = "; os.chdir('/'); sys.stdout.close()"  # what the next ask must not meet
    try:
        answers = warm.run(folder, [_said(where + spoils), _said(where)])
        (first, err), (second, err2) = answers
        assert err == err2 == "err\n"
        first_pid, cwd = first.split()
        second_pid, cwd2 = second.splitlines()[0].split()
        assert first_pid == second_pid and cwd == cwd2 == str(TREE / "one")  # one fork
        [(again, _)] = warm.run(folder, [_said(where)])
        assert again.split()[0] != first_pid  # the next request: a fork of its own
        interpreter = warm.proc.pid if warm.proc else None
        dies = _said("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
        answers = warm.run(folder, [_said(where), dies, _said(where)])
        assert answers[0][0].split()[1] == str(TREE / "one")
        assert answers[1:] == [("", "no answer: its fork ended first")] * 2
        assert warm.proc is not None and warm.proc.pid == interpreter
    finally:
        warm.stop()


@pytest.mark.sandbox
def test_a_tools_pool_of_processes_runs_in_the_requests_own_fork(tmp_path: Path) -> None:
    """A tool's pool of processes (detect-secrets makes one for two files or more, whatever
    ``-c 1`` says) is a pool of threads in the request's fork, not forks of the fork: a
    change's files cost the gate about a third less."""
    settings = load_settings(make_factory_repo(tmp_path / "r"), tmp_path / "state")
    warm = Warm(settings, Limits(timeout_s=60), [])
    folder = warm.folder / "one"
    folder.mkdir()
    pool = "import multiprocessing, os; p = multiprocessing.Pool(1); "
    pool += "print(p.apply(os.getpid) == os.getpid()); p.terminate()"
    try:
        [(same, _)] = warm.run(folder, [_said(pool)])
        assert same.split()[0] == "True", same
    finally:
        warm.stop()


def _mine() -> set[Path]:
    """The analysers' folders this process owns (their owner file names it)."""
    found = set()
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        with contextlib.suppress(OSError):
            if (folder / "owner").read_text().split()[0] == str(os.getpid()):
                found.add(folder)
    return found


def test_a_killed_processs_folder_is_removed_by_the_next_interpreter_made(tmp_path: Path) -> None:
    """A folder whose owner is gone goes; one whose owner runs (or that is being made: no
    owner written yet) stays."""
    settings = load_settings(make_factory_repo(tmp_path / "r"), tmp_path / "state")
    never = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # no process has it
    dead = Path(tempfile.mkdtemp(prefix=PREFIX))
    (dead / "tree").mkdir()
    (dead / "owner").write_text(f"{never} 1")  # its owner, as its process wrote it
    mine = Path(tempfile.mkdtemp(prefix=PREFIX))
    warm = Warm(settings, Limits(), [])
    try:
        assert not dead.exists() and mine.exists() and warm.folder.is_dir()
    finally:
        warm.stop()
        shutil.rmtree(mine)
    assert not warm.folder.parent.exists()


@pytest.mark.sandbox
def test_the_cycles_analysers_start_before_their_first_request_and_none_outside_a_cycle(
    tmp_path: Path,
) -> None:
    """The test step starts the gates' interpreter (``warm_up``): its imports run beside the
    suite, and the gates' first request finds it running; outside a cycle nothing is left."""
    settings = load_settings(make_factory_repo(tmp_path / "r"), tmp_path / "state")
    before = _mine()
    warm_up(settings)
    assert _mine() == before
    with shared():
        warm_up(settings)
        with workspace(settings) as where:
            assert where.warm.proc is not None and where.warm.proc.poll() is None
            started = where.warm.proc.pid
            (where.path / "a.py").write_text("x = 1\n")
            assert run_analysers(settings, where, ["a.py"]).errors == []
            assert where.warm.proc.pid == started
