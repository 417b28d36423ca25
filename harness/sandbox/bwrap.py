"""``Sandbox``: commands under bubblewrap — the worktree writable, everything else read-only,
no network, an empty environment, and limits on time, output, memory and processes."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import SandboxError
from harness.sandbox.limits import Limits, PidsCgroup, apply_rlimits

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
# Folders no sandboxed command may read, whatever else is hidden per call.
ALWAYS_HIDDEN = ("/root", "/home", "/etc/ssh", "/var/lib/docker", "/run/secrets")


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    output: str
    timed_out: bool
    limit_hit: str | None  # None | "time" | "output"
    duration_s: float


def sandbox_available() -> bool:
    return shutil.which("bwrap") is not None


class Sandbox:
    """Runs shell commands in ``worktree`` under bubblewrap."""

    def __init__(
        self,
        worktree: Path,
        limits: Limits | None = None,
        hidden: list[Path] | None = None,
        network: bool = False,
    ) -> None:
        if not sandbox_available():
            raise SandboxError("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
        self.worktree = worktree.resolve()
        self.limits = limits or Limits()
        self.hidden = [p.resolve() for p in hidden or []]
        self.network = network

    def argv(self, command: str) -> list[str]:
        wt = str(self.worktree)
        args = [
            "bwrap",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--tmpfs",
            "/tmp",
        ]
        for path in [*map(Path, ALWAYS_HIDDEN), *self.hidden]:
            if path.is_dir() and path != self.worktree and path not in self.worktree.parents:
                args += ["--tmpfs", str(path)]
            elif path.is_dir():  # the worktree lives below it: hide its siblings instead
                for child in path.iterdir():
                    if (
                        child.is_dir()
                        and child != self.worktree
                        and child not in self.worktree.parents
                    ):
                        args += ["--tmpfs", str(child)]
        args += ["--bind", wt, wt, "--chdir", wt]
        git_link = self.worktree / ".git"
        if git_link.exists():
            # read-only: a command that could rewrite the worktree's .git (pointing it at a
            # repository whose config runs commands) would own the harness's next git call
            args += ["--ro-bind", str(git_link), str(git_link)]
        args += ["--unshare-all"] + (["--share-net"] if self.network else [])
        args += ["--die-with-parent", "--new-session", "--clearenv"]
        env = {
            "PATH": SAFE_PATH,
            "HOME": "/tmp",
            "LANG": "C.UTF-8",
            "TMPDIR": "/tmp",
            "CI": "true",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        for key, value in env.items():
            args += ["--setenv", key, value]
        return [*args, "/bin/sh", "-c", command]

    def _spawn(self, command: str, cgroup: PidsCgroup) -> subprocess.Popen[bytes]:
        limits = self.limits

        def child_setup() -> None:
            cgroup.enter()
            apply_rlimits(limits)

        return subprocess.Popen(
            self.argv(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={"PATH": SAFE_PATH},
            start_new_session=True,
            preexec_fn=child_setup,
        )

    def run(self, command: str, *, timeout_s: float | None = None) -> CommandResult:
        timeout = timeout_s or self.limits.timeout_s
        cap = self.limits.output_bytes
        cgroup = PidsCgroup(self.limits.max_processes)
        started = time.monotonic()
        proc = self._spawn(command, cgroup)
        assert proc.stdout is not None
        chunks: list[bytes] = []
        size, limit_hit = 0, None
        try:
            while True:
                left = timeout - (time.monotonic() - started)
                if left <= 0:
                    limit_hit = "time"
                    break
                ready, _, _ = select.select([proc.stdout], [], [], min(left, 0.5))
                if not ready:
                    if proc.poll() is not None:
                        break
                    continue
                data = os.read(proc.stdout.fileno(), 65536)
                if not data:
                    break
                chunks.append(data)
                size += len(data)
                if size > cap:
                    limit_hit = "output"
                    break
        finally:
            if limit_hit is not None or proc.poll() is None:
                self._kill(proc)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            cgroup.remove()
            proc.stdout.close()
        output = b"".join(chunks)[:cap].decode("utf-8", errors="replace")
        if limit_hit == "output":
            output += f"\n[output cut at {cap:,} bytes; the command was stopped]"
        if limit_hit == "time":
            output += f"\n[stopped after {timeout:.0f}s: time limit]"
        code = proc.returncode if proc.returncode is not None else -9
        return CommandResult(
            exit_code=code if limit_hit is None else 124,
            output=output,
            timed_out=limit_hit == "time",
            limit_hit=limit_hit,
            duration_s=time.monotonic() - started,
        )

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
