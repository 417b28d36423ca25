"""``Sandbox``: commands under bubblewrap, built from an allow-list (docs/sandbox.md, "What
the sandbox allows", lists every resource): a read-only system, the worktree read-write, a
private ``/tmp`` and ``/dev/shm`` — the state folder, the main checkout, other worktrees, the
hold-out and every home folder are never mounted, wherever they live. No process inside holds
a capability or can get one back (as root ``setpriv`` drops to an unprivileged uid with no
new privileges; as a user, a user namespace that forbids any further one), all under the
seccomp filter (``seccomp.py``). ``bwrap_argv`` is the only bubblewrap command line: the
browser's and the sealed validator's views go through it too."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from harness.cpu import waiting
from harness.errors import SandboxError, stop_now
from harness.paths import workflows_dir
from harness.sandbox import holding, seccomp
from harness.sandbox.holding import SANDBOX_UID
from harness.sandbox.limits import PRLIMIT, SETPRIV, Cgroup, Limits
from harness.sandbox.relay import EGRESS_ENV, EGRESS_SOCKET, relayed

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
# what a confined process (a sandboxed command, Chromium, the seal) sees of an environment:
# nothing of the harness's
CONFINED_ENV = MappingProxyType(
    {"PATH": SAFE_PATH, "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8"}
)
# The system a sandboxed command may read: bound read-only where they are folders, re-made
# as the same symbolic links where they are links (merged-/usr systems).
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
# Inside the system view, folders no sandboxed command may read, whatever else is hidden.
ALWAYS_HIDDEN = ("/etc/ssh", "/etc/ssl/private")
_SHARED_GIT = ("objects", "refs", "packed-refs", "shallow")  # what a worktree's git reads
DEV_SHM_MB = 256
# set-up's file-access trace (docs/sandbox.md, "Set-up observed"), outside the sandbox: every
# process's opens and executions (a file each), each string and path in hex, the path of each
# file opened
TRACE = "strace -ff -qq -y -xx --seccomp-bpf -e signal=none -e trace=/^(open|openat2?|execve(at)?)$"
running_as_root = holding.as_root


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    output: str
    limit_hit: str | None  # None | "time" | "output" | "disk" | "files"
    duration_s: float


@dataclass(frozen=True)
class View:
    """What a sandboxed process sees beyond the read-only system: ``writable`` folders (the
    first is its working directory), extra ``readable`` ones, ``hidden`` paths masked where
    they would fall inside the system view, and the host's network, or the egress proxy's
    socket, or (by default) only a loopback of its own."""

    writable: tuple[Path, ...] = ()
    readable: tuple[Path, ...] = ()
    hidden: tuple[Path, ...] = ()
    # False: a network namespace of its own with only its loopback. True: the namespace
    # bubblewrap is started in (the host's for setup; the app's for a browser, entered first).
    network: bool = False
    tmp_mb: int = 1024
    env: dict[str, str] = field(default_factory=dict)  # the whole environment inside
    uid: int = SANDBOX_UID  # who it runs as (uid and gid) when the harness is root
    # where the first writable folder appears inside (None: at its own path). A fresh copy of
    # a prepared checkout is shown where setup made it, so the absolute paths setup wrote
    # (a venv's script shebangs, an editable install's import path) still lead into it.
    seen_as: Path | None = None
    # the egress proxy's socket (set-up only): the command's one way out of its namespace
    egress: Path | None = None


def sandbox_available() -> bool:
    return shutil.which("bwrap") is not None


def interpreter() -> list[Path]:
    """The harness's own Python (its virtualenv, the interpreter behind it), for a view."""
    found = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent.parent]
    return list(dict.fromkeys(p.resolve() for p in found if p.exists()))


def under(path: Path, folders: Iterable[Path]) -> bool:
    """Whether ``path`` is one of ``folders`` or inside one."""
    return any(path == f or f in path.parents for f in folders)


def bwrap_argv(view: View, command: list[str], *, seccomp_fd: int | None) -> list[str]:
    """The one bubblewrap command line: ``command`` run in ``view``."""
    as_root = running_as_root()
    args, system = _system_view(view)
    args += _mounts(view, system)
    if view.egress is not None:
        args += ["--dir", "/run", "--ro-bind", str(view.egress), EGRESS_SOCKET]
        command = relayed(command)
    if view.writable:
        args += ["--chdir", str(view.seen_as or view.writable[0])]
    args += ["--remount-ro", "/"]
    args += ["--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--unshare-pid"]
    if not view.network:
        args += ["--unshare-net"]
    if as_root:  # setpriv needs these two to change uid, and drops them as it does
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    args += ["--die-with-parent", "--new-session", "--clearenv"]
    for key, value in view.env.items():
        args += ["--setenv", key, value]
    if as_root:
        ids = [f"--reuid={view.uid}", f"--regid={view.uid}", "--clear-groups"]
        command = [SETPRIV, *ids, "--no-new-privs", "--inh-caps=-all", "--", *command]
    return [*args, *command]


def _system_view(view: View) -> tuple[list[str], list[Path]]:
    """The read-only system, fresh /dev and /proc, size-capped /tmp (and TMPDIR) and
    /dev/shm, and the hidden folders that fall inside the system masked; with the system
    folders bound."""
    args = ["bwrap"]
    system: list[Path] = []
    for name in SYSTEM:
        path = Path(name)
        if path.is_symlink():
            args += ["--symlink", str(path.readlink()), name]
        elif path.is_dir():
            args += ["--ro-bind", name, name]
            system.append(path)
    args += ["--dev", "/dev", "--proc", "/proc"]
    args += ["--perms", "1777", "--size", str(DEV_SHM_MB * 1024 * 1024), "--tmpfs", "/dev/shm"]
    # the host's TMPDIR is private too: a folder named there (Playwright's driver names the
    # browser's profile so) is one the sandbox can write, wherever it is
    temps = dict.fromkeys([Path("/tmp"), Path(tempfile.gettempdir())])
    for temp in (t for t in temps if not any(under(s, [t]) for s in system)):
        args += ["--perms", "1777", "--size", str(view.tmp_mb * 1024 * 1024), "--tmpfs", str(temp)]
    for hidden in [*map(Path, ALWAYS_HIDDEN), *view.hidden]:
        if hidden.is_dir() and under(hidden, system) and not under(hidden, view.writable):
            args += ["--tmpfs", str(hidden)]
    return args, system


def _mounts(view: View, system: list[Path]) -> list[str]:
    """The view's own folders (the first writable one shown at ``seen_as`` when given), each
    worktree's ``.git`` link read-only."""
    args: list[str] = []
    made: set[Path] = set(map(Path, ("/", "/tmp", "/dev", "/dev/shm", "/proc")))  # bwrap makes them
    mounts = [
        *((p, p, "--bind") for p in view.writable),
        *((p, p, "--ro-bind") for p in view.readable),
    ]
    if view.writable and view.seen_as is not None:
        mounts[0] = (view.writable[0], view.seen_as, "--bind")
    for path, inside, mode in mounts:
        for parent in reversed(inside.parents):
            if parent not in made and not under(parent, system):
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        args += [mode, str(path), str(inside)]
        made.add(inside)
        if mode == "--bind" and (path / ".git").is_file():
            args += _git_view(path, inside)
    return args


def _git_view(path: Path, inside: Path) -> list[str]:
    """The worktree's git for its commands, read-only (docs/sandbox.md, "files"): its HEAD and
    index, the objects and refs it shares, beside it at ``../git``, where the link bound over
    its ``.git`` points; never the repository's configuration, hooks or other records, nor
    the link that names them by their host path (a command that could rewrite it would own
    the harness's next git call)."""
    from harness.git import integrity  # the sealed validator's view needs no git

    gitdir = integrity.git_dir_of(path)
    common = integrity.common_dir_of(path)
    view = inside.parent / "git"
    args = ["--ro-bind", str(workflows_dir() / "sandbox" / "git-link"), str(inside / ".git")]
    args += ["--perms", "0755", "--dir", str(view)]
    for shared in (gitdir / "HEAD", gitdir / "index", *(common / n for n in _SHARED_GIT)):
        if shared.exists():
            args += ["--ro-bind", str(shared), str(view / shared.name)]
    return args


def harden(paths: Iterable[Path]) -> None:
    """As root: the folders a sandboxed command must never read (state, hold-out, the main
    repository's ``.git``) are closed to every other uid by their modes too, so they stay shut
    even if a mount were ever lifted."""
    if not running_as_root():
        return
    for path in paths:
        with contextlib.suppress(OSError):
            info = path.stat()
            if path.is_dir() and info.st_uid == 0 and info.st_mode & 0o077:
                path.chmod(info.st_mode & 0o700)


class Sandbox:
    """Runs shell commands in ``worktree`` under bubblewrap."""

    def __init__(
        self,
        worktree: Path,
        limits: Limits | None = None,
        hidden: list[Path] | None = None,
        network: bool = False,
        seen_as: Path | None = None,
        egress: Path | None = None,
        readable: list[Path] | None = None,
        trace: Path | None = None,
    ) -> None:
        if not sandbox_available():
            raise SandboxError("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
        if not Path(PRLIMIT).exists() or (running_as_root() and not Path(SETPRIV).exists()):
            raise SandboxError(
                "util-linux (setpriv, prlimit) is not installed: apt-get install util-linux"
            )
        self.worktree = worktree.resolve()
        self.limits = limits or Limits()
        self.trace = trace  # the file the command's file-access trace is written to
        if trace and not shutil.which("strace", path=SAFE_PATH):
            raise SandboxError(
                "strace is not installed (set-up runs under it): apt-get install strace"
            )
        env = {
            **CONFINED_ENV,
            "CI": "true",
            "PYTHONDONTWRITEBYTECODE": "1",
            "GIT_CONFIG_COUNT": "1",  # git reads a worktree's git that is not its uid's
            "GIT_CONFIG_KEY_0": "safe.directory",
            "GIT_CONFIG_VALUE_0": "*",
            **(EGRESS_ENV if egress is not None else {}),
        }
        self.view = View(
            writable=(self.worktree,),
            readable=tuple(readable or ()),
            hidden=tuple(p.resolve() for p in hidden or []),
            network=network,
            tmp_mb=self.limits.tmp_mb,
            env=env,
            seen_as=seen_as,  # a path inside the sandbox: nothing of the host resolves it
            egress=egress,
        )

    def popen(
        self,
        command: str,
        cgroup: Cgroup,
        stdout: int | object = subprocess.PIPE,
        info_fd: int | None = None,
        stdin: int = subprocess.DEVNULL,
    ) -> subprocess.Popen[bytes]:
        """Start ``command`` in the sandbox (the one place a sandboxed process is spawned), in
        ``cgroup`` (the caller removes it), under the rlimits of what it does not hold."""
        holding.held(self.worktree)  # handed to the sandbox uid: walked the first time only
        filter_fd = seccomp.filter_fd()
        fds = tuple(fd for fd in (filter_fd, info_fd) if fd is not None)
        argv = bwrap_argv(self.view, ["/bin/sh", "-c", command], seccomp_fd=filter_fd)
        if info_fd is not None:
            argv = [argv[0], "--info-fd", str(info_fd), *argv[1:]]
        if self.trace is not None:  # the tracer outside, where the command cannot reach it
            argv = [*TRACE.split(), "-o", str(self.trace), "--", *argv]
        argv = cgroup.entered(argv)
        try:
            return subprocess.Popen(
                argv,
                stdin=stdin,
                stdout=stdout,  # type: ignore[arg-type]
                stderr=subprocess.STDOUT,
                env={"PATH": SAFE_PATH},
                start_new_session=True,
                pass_fds=fds,
            )
        finally:
            if filter_fd is not None:
                os.close(filter_fd)

    def run(self, command: str, *, timeout_s: float | None = None) -> CommandResult:
        """``command`` in the sandbox, then a check that git's configuration outside the
        worktree is as it was (``integrity.after_command``)."""
        with waiting():  # the run's CPU slot goes to another run while the command runs
            result = self._run(command, timeout_s)
        from harness.git import integrity

        integrity.after_command(self.worktree)
        return result

    def _run(self, command: str, timeout_s: float | None) -> CommandResult:
        timeout = timeout_s or self.limits.timeout_s
        cap = self.limits.output_bytes
        cgroup = Cgroup(self.limits)
        lim = self.limits
        meter = holding.Meter(self.worktree, lim.disk_mb << 20, lim.max_new_files, lim.max_files)
        started = time.monotonic()
        proc = self.popen(command, cgroup)
        assert proc.stdout is not None
        chunks: list[bytes] = []
        size = 0
        limit_hit = None
        try:
            while True:
                left = timeout - (time.monotonic() - started)
                if left <= 0:
                    limit_hit = "time"
                    break
                limit_hit = meter.over()
                if limit_hit:
                    break
                stop_now()  # a person cancelled the run's issue: its processes end now
                ready, _, _ = select.select([proc.stdout], [], [], min(left, 0.5))
                if not ready:  # ended: what it wrote just before is still read (to EOF)
                    if proc.poll() is not None and not select.select([proc.stdout], [], [], 0)[0]:
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
            cgroup.remove()
            proc.stdout.close()
        limit_hit, held = meter.finish(limit_hit)
        output = b"".join(chunks)[:cap].decode("utf-8", errors="replace")
        output += self._limit_note(limit_hit, timeout, held)
        code = proc.returncode if proc.returncode is not None else -9
        return CommandResult(
            exit_code=code if limit_hit is None else 124,
            output=output,
            limit_hit=limit_hit,
            duration_s=time.monotonic() - started,
        )

    def _limit_note(self, limit_hit: str | None, timeout: float, held: holding.Held) -> str:
        """What the output says about the limit that stopped the command."""
        lim = self.limits
        if limit_hit == "output":
            return f"\n[output cut at {lim.output_bytes:,} bytes; the command was stopped]"
        if limit_hit == "time":
            return f"\n[stopped after {timeout:.0f}s: time limit]"
        if limit_hit == "disk":
            return (
                f"\n[disk limit: the command wrote more than {lim.disk_mb} MB or the "
                f"worktree now holds about {held.bytes >> 20} MB (limit {lim.disk_mb} MB); "
                "remove what is not needed]"
            )
        if limit_hit == "files":
            return (
                f"\n[file limit: the command was stopped: it created more than "
                f"{lim.max_new_files:,} files and folders, or the worktree now holds more than "
                f"{lim.max_files:,} (about {held.files or 0:,}); remove what is not needed]"
            )
        return ""

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        """``proc``'s process group killed, and ``proc`` reaped (waited for ten seconds at
        most): every process the sandbox, the proxy, the app or the browser started ends here."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
