"""The sandbox: no network, no inherited environment, nothing writable outside the worktree,
and runaway commands end within their limits."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness.sandbox.bwrap import Sandbox, sandbox_available
from harness.sandbox.limits import Cgroup, Limits

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(not sandbox_available(), reason="bubblewrap (bwrap) is not installed"),
]
CANARY = "sk-ant-sandbox-CANARY-5e1f0c9a7b"


@pytest.fixture
def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv("ANTHROPIC_API_KEY", CANARY)
    monkeypatch.setenv("GITHUB_TOKEN", CANARY)
    wt = tmp_path / "wt"
    wt.mkdir()
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.db").write_text("private")
    return Sandbox(wt, Limits(timeout_s=20, max_processes=64), hidden=[state])


def test_no_network_even_to_loopback(box: Sandbox, listener) -> None:
    port, got = listener
    result = box.run(
        f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 3).send(b'x')\""
    )
    assert result.exit_code != 0 and got == []


def test_no_secret_in_the_environment(box: Sandbox) -> None:
    result = box.run("env; cat /proc/self/environ; cat /proc/1/environ; echo $ANTHROPIC_API_KEY")
    assert result.exit_code == 0
    assert CANARY not in result.output and "PATH=" in result.output


def test_writes_stay_in_the_worktree(box: Sandbox, tmp_path: Path) -> None:
    result = box.run(
        f"echo ok > inside.txt; echo x > {tmp_path}/outside.txt; echo x > /etc/x; "
        "echo x > /usr/x; echo x > $HOME/x; ls /root; cat ../state/state.db; true"
    )
    assert (box.worktree / "inside.txt").read_text() == "ok\n"
    assert not (tmp_path / "outside.txt").exists()
    assert "private" not in result.output


def test_nothing_beside_the_worktree_is_there(box: Sandbox, tmp_path: Path) -> None:
    """An allow-list, not masks: the state folder next to the worktree does not exist."""
    result = box.run(f"ls -a {tmp_path}; ls -a {tmp_path}/state; cat {tmp_path}/state/state.db")
    assert result.output.startswith(".\n..\nwt\n")  # the worktree's parent holds only it
    assert "private" not in result.output and "No such file" in result.output


def test_private_tmp_is_capped(tmp_path: Path) -> None:
    wt = tmp_path / "w"
    wt.mkdir()
    box = Sandbox(wt, Limits(timeout_s=20, tmp_mb=2))
    result = box.run("head -c 3000000 /dev/zero > /tmp/big; echo rc=$?")
    assert "No space left on device" in result.output and "rc=1" in result.output


def test_a_command_filling_the_disk_is_stopped(tmp_path: Path) -> None:
    wt = tmp_path / "w"
    wt.mkdir()
    box = Sandbox(wt, Limits(timeout_s=30, disk_mb=20))
    result = box.run("for i in $(seq 1 8); do head -c 4000000 /dev/urandom > f$i; done; echo done")
    assert result.limit_hit == "disk" and "disk limit" in result.output
    assert result.exit_code == 124


def test_no_capability_no_new_privileges_and_a_seccomp_filter(box: Sandbox) -> None:
    from harness.sandbox import seccomp

    result = box.run("grep -E '^(CapEff|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status; id -u")
    assert "CapEff:\t0000000000000000" in result.output
    assert "CapPrm:\t0000000000000000" in result.output
    assert "NoNewPrivs:\t1" in result.output
    if seccomp.active():
        assert "Seccomp:\t2" in result.output
    if os.geteuid() == 0:
        assert result.output.strip().endswith(str(65534))


@pytest.mark.parametrize(
    "escape",
    [
        "umount -l /tmp",
        "mount -o remount,bind,rw /",
        "mount -o remount,rw /",
        "mount -t tmpfs none /mnt",
        "unshare -m true",
        "unshare -Ur true",
        "nsenter -t 1 -m true",
        "/usr/sbin/pivot_root . .",
        "/usr/sbin/chroot / true",
    ],
)
def test_mount_and_namespace_escapes_fail(box: Sandbox, escape: str) -> None:
    result = box.run(f"{escape} && echo ESCAPED")
    assert "ESCAPED" not in result.output and result.exit_code != 0


def test_infinite_loop_ends_at_the_time_limit(box: Sandbox) -> None:
    result = box.run("while :; do :; done", timeout_s=0.5)
    assert result.limit_hit == "time" and result.exit_code == 124


def test_fork_bomb_is_bounded_and_leaves_nothing(box: Sandbox) -> None:
    result = box.run("bomb(){ bomb | bomb & }; bomb; sleep 1; echo survived", timeout_s=15)
    # it ended by itself, held at the process limit (forks refused), or at the time limit
    assert (
        "Cannot fork" in result.output or "survived" in result.output or result.limit_hit == "time"
    )
    mine = [p for p in os.listdir("/proc") if p.isdigit()]
    leftovers = []
    for pid in mine:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"bomb" in cmd:
            leftovers.append(pid)
    assert leftovers == []


def test_a_command_runs_under_its_limits_and_in_its_cgroup(tmp_path: Path) -> None:
    """File size and core dumps by rlimit; tasks and memory by the sandbox's own cgroup where
    one can be made (cgroup v1 or v2), else by rlimit."""
    limits = Limits(timeout_s=20, max_processes=64, memory_mb=1024, file_size_mb=8)
    cgroup = Cgroup(limits)
    try:
        box = Sandbox(tmp_path, limits).popen("cat /proc/self/limits; sleep 30", cgroup)
        try:
            assert box.stdout is not None
            rows = {}
            while "Max realtime timeout" not in rows:  # the last line
                line = box.stdout.readline().decode()
                rows[line[:26].strip()] = line[26:].split()
            for path in cgroup.paths:  # bubblewrap itself, so everything it starts
                assert str(box.pid) in (path / "cgroup.procs").read_text().split()
        finally:
            box.kill()
            box.wait()
    finally:
        cgroup.remove()
    assert rows["Max file size"][:2] == [str(8 << 20)] * 2
    assert rows["Max core file size"][:2] == ["0", "0"]
    if "pids" in cgroup.held:
        assert "64" not in rows["Max processes"][:2]  # no uid-wide count: the cgroup's own
    else:
        assert rows["Max processes"][:2] == ["64", "64"]
    if "memory" not in cgroup.held:
        assert rows["Max address space"][:2] == [str(1024 << 20)] * 2
    assert not any(path.exists() for path in cgroup.paths)  # removed once its tasks left


FORKS = """
import os, sys, time
n = 0
while True:
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(float(sys.argv[1]))
        os._exit(0)
    n += 1
    if n == int(sys.argv[2]):
        break
open("forking", "w").write(str(n))
os.rename("forking", "forked")
while not os.path.exists("done"):
    time.sleep(0.05)
"""


def _pids_cgroups() -> bool:
    cgroup = Cgroup(Limits())
    cgroup.remove()
    return "pids" in cgroup.held


@pytest.mark.skipif(not _pids_cgroups(), reason="no pids cgroup can be made here (rlimits only)")
def test_one_sandbox_forking_until_it_fails_does_not_fail_anothers_fork(tmp_path: Path) -> None:
    """Sandbox A forks until the kernel refuses (its limit) and holds its processes; sandbox
    B, running as the same uid meanwhile, still forks all it asks for."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    command = f"python3 -c '{FORKS}'"
    a = Sandbox(tmp_path / "a", Limits(timeout_s=300, max_processes=200))
    done = {}
    bomb = threading.Thread(target=lambda: done.update(a=a.run(f"{command} 600 100000")))
    bomb.start()
    try:
        while not (tmp_path / "a" / "forked").exists() and bomb.is_alive():
            time.sleep(0.05)
        held = int((tmp_path / "a" / "forked").read_text())
        b = Sandbox(tmp_path / "b", Limits(timeout_s=300, max_processes=200))
        (tmp_path / "b" / "done").write_text("")
        other = b.run(f"{command} 0 100")
        assert other.exit_code == 0, other.output
    finally:
        (tmp_path / "a" / "done").write_text("")
        bomb.join(timeout=300)
    assert 100 < held < 200, held  # A was stopped by its own limit
    assert (tmp_path / "b" / "forked").read_text() == "100"  # B forked every one


def test_output_is_capped(tmp_path: Path) -> None:
    wt = tmp_path / "w"
    wt.mkdir()
    result = Sandbox(wt, Limits(output_bytes=10_000, timeout_s=20)).run("yes x")
    assert result.limit_hit == "output" and len(result.output) < 11_000 and "cut" in result.output


def test_the_worktree_git_link_cannot_be_rewritten(tmp_path: Path) -> None:
    import subprocess

    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "a.txt").write_text("a")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "a"],
        check=True,
    )
    wt = tmp_path / "wt"
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", str(wt)], check=True)
    before = (wt / ".git").read_text()
    result = Sandbox(wt, Limits(timeout_s=20)).run(
        "echo 'gitdir: /tmp/evil' > .git; rm -f .git; mv .git moved; mkdir -p x && echo ok > x/f"
    )
    assert (wt / ".git").read_text() == before
    assert (wt / "x" / "f").read_text() == "ok\n"  # the rest of the worktree stays writable
    assert "Read-only" in result.output or "busy" in result.output.lower()


@pytest.mark.skipif(os.geteuid() != 0, reason="modes bind only a uid other than the owner's")
def test_the_factorys_folders_stay_shut_even_if_a_mount_were_lifted(tmp_path: Path) -> None:
    """Defence in depth: ``harden`` closes the state folder to the sandbox's uid, so even a
    view that showed it (as a lifted mount would) lets nothing be read or written."""
    from harness.sandbox.bwrap import View, bwrap_argv, harden

    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    (state / "state.db").write_text("private")
    harden([state])
    assert state.stat().st_mode & 0o077 == 0
    view = View(readable=(state,), env={"PATH": "/usr/bin:/bin"})
    command = ["/bin/sh", "-c", f"cat {state}/state.db; touch {state}/x; id -u"]
    argv = bwrap_argv(view, command, seccomp_fd=None)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert "private" not in out.stdout and "Permission denied" in out.stderr
    assert not (state / "x").exists()


def test_files_the_harness_wrote_stay_writable_for_commands(tmp_path: Path) -> None:
    """As root, the worktree is handed to the sandbox's uid before each command: a file a tool
    wrote (as root) can be appended to by the next command."""
    wt = tmp_path / "w"
    wt.mkdir()
    (wt / "written_by_tool.txt").write_text("a\n")
    box = Sandbox(wt, Limits(timeout_s=20))
    result = box.run("echo b >> written_by_tool.txt && mkdir -p d && echo c > d/f && echo ok")
    assert result.exit_code == 0, result.output
    assert (wt / "written_by_tool.txt").read_text() == "a\nb\n"


def test_run_tests_runs_the_chosen_tests_alone_in_the_suites_time(box: Sandbox) -> None:
    from harness.config.models import Commands
    from harness.tools.command import CommandTool, RunTests

    case = "import unittest\n\nclass T(unittest.TestCase):\n    def test_it(self):\n"
    (box.worktree / "test_good.py").write_text(case + "        pass\n")
    (box.worktree / "test_bad.py").write_text(case + "        self.fail('ran')\n")
    tool = CommandTool(box, Commands(test="python3 -m unittest", test_timeout_s=30), [], print)
    assert tool.run_tests(RunTests()).startswith("`python3 -m unittest` exited 1")
    chosen = tool.run_tests(RunTests(tests=["test_good.py"]))
    assert chosen.startswith("`python3 -m unittest test_good` exited 0") and "Ran 1 test" in chosen
    whole = CommandTool(box, Commands(test="python3 -m unittest && true"), [], print).run_tests(
        RunTests(tests=["test_good.py"])
    )
    assert "exited 1 (the whole suite: no commands.test_files template fits" in whole


def test_run_tests_names_the_failed_test_ahead_of_a_100_kb_assertion_message(
    tmp_path: Path,
) -> None:
    """pytest on CI (no message cut) with a page as a failed assertion's message: the summary
    line naming the test sits 100 KB before the end; the answer names it first."""
    import sys

    from harness.config.models import Commands
    from harness.config.testfiles import failing_tests
    from harness.sandbox.bwrap import interpreter
    from harness.tools.command import MAX_TEST_TAIL, CommandTool, RunTests

    wt = tmp_path / "wt"
    wt.mkdir()
    page = "<!doctype html><html><body>" + "<p>a note</p>" * 8000 + "</body></html>"
    (wt / "test_page.py").write_text(
        f"PAGE = {page!r}\n\n\ndef test_heading():\n    assert '<h1>' in PAGE, PAGE\n\n\n"
        "def test_fine():\n    pass\n"
    )
    box = Sandbox(wt, Limits(timeout_s=120), readable=interpreter())
    suite = f"CI=1 {sys.executable} -m pytest -q -p no:cacheprovider"
    tool = CommandTool(box, Commands(test=suite, test_timeout_s=120), [], print)
    said = tool.run_tests(RunTests())
    assert (
        len(said) < MAX_TEST_TAIL + 1000
        and "test_page.py::test_heading" not in said[-MAX_TEST_TAIL:]
    )
    assert failing_tests(said) == ["test_page.py::test_heading"], said[:500]
    assert said.index("[failed test] test_page.py::test_heading") < 200
    again = tool.run_tests(RunTests())  # what failed runs first: it alone
    assert again.startswith(f"`{suite} test_page.py::test_heading` exited 1"), again[:300]
