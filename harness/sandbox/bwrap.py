"""``Sandbox``: commands under bubblewrap, built from an allow-list.

The sandbox sees a read-only system (``/usr``, the ``/bin``/``/lib`` links, ``/etc``), its
worktree read-write at its own path, a private size-capped ``/tmp`` and ``/dev/shm``, fresh
``/dev`` and ``/proc`` — and nothing else: the state folder, the main checkout, other
worktrees, the hold-out and every home folder are not hidden one by one, they are simply
never mounted, wherever they live.

No process inside holds a capability or can get one back: as root the harness starts
bubblewrap privileged and the command drops to an unprivileged uid (``setpriv``, no new
privileges) before it runs; as an ordinary user bubblewrap makes a user namespace and
forbids any further one (``--disable-userns``). Both run under a seccomp filter refusing
mounts, namespaces, tracing and the rest of the usual deny list (``seccomp.py``). A network
namespace of its own with only its loopback — set-up on production's tree reaches the egress
proxy's socket and nothing else (``egress.py``) — an empty environment, and limits on time,
output, memory, processes, file size and disk. This module is the only place that builds a
bubblewrap command line (``bwrap_argv``): the sealed validator's view goes through it too."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import SandboxError
from harness.sandbox import seccomp
from harness.sandbox.limits import Limits, PidsCgroup, apply_rlimits
from harness.sandbox.relay import EGRESS_ENV, EGRESS_SOCKET, relayed

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
# The system a sandboxed command may read: bound read-only where they are folders, re-made
# as the same symbolic links where they are links (merged-/usr systems).
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
# Inside the system view, folders no sandboxed command may read, whatever else is hidden.
ALWAYS_HIDDEN = ("/etc/ssh", "/etc/ssl/private")
# When the harness runs as root, sandboxed commands run as this uid and gid (``nobody``).
SANDBOX_UID = 65534
SANDBOX_GID = 65534
DEV_SHM_MB = 256


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    output: str
    timed_out: bool
    limit_hit: str | None  # None | "time" | "output" | "disk"
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
    network: bool = False
    tmp_mb: int = 1024
    env: dict[str, str] = field(default_factory=dict)
    # Capabilities kept (root only): empty for every command an agent's work can influence.
    keep_caps: tuple[str, ...] = ()
    # False: the process inherits the environment it is started with (the seal's model key
    # must not appear on a command line), else it starts empty plus ``env``.
    clear_env: bool = True
    # the host's process list (only the seal, to find the app's network namespace)
    share_pid: bool = False
    # where the first writable folder appears inside (None: at its own path). A fresh copy of
    # a prepared checkout is shown where setup made it, so the absolute paths setup wrote
    # (a venv's script shebangs, an editable install's import path) still lead into it.
    seen_as: Path | None = None
    # the egress proxy's socket (set-up only): the command's one way out of its namespace
    egress: Path | None = None


def running_as_root() -> bool:
    return os.geteuid() == 0


def sandbox_available() -> bool:
    return shutil.which("bwrap") is not None


def _under(path: Path, folders: Iterable[Path]) -> bool:
    return any(path == f or f in path.parents for f in folders)


def bwrap_argv(view: View, command: list[str], *, seccomp_fd: int | None = None) -> list[str]:
    """The one bubblewrap command line: ``command`` run in ``view``."""
    as_root = running_as_root()
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
    args += ["--perms", "1777", "--size", str(view.tmp_mb * 1024 * 1024), "--tmpfs", "/tmp"]
    args += ["--perms", "1777", "--size", str(DEV_SHM_MB * 1024 * 1024), "--tmpfs", "/dev/shm"]
    for hidden in [*map(Path, ALWAYS_HIDDEN), *view.hidden]:
        if hidden.is_dir() and _under(hidden, system) and not _under(hidden, view.writable):
            args += ["--tmpfs", str(hidden)]
    made: set[Path] = {Path("/"), Path("/tmp"), Path("/dev"), Path("/dev/shm"), Path("/proc")}
    mounts = [
        *((p, p, "--bind") for p in view.writable),
        *((p, p, "--ro-bind") for p in view.readable),
    ]
    if view.writable and view.seen_as is not None:
        mounts[0] = (view.writable[0], view.seen_as, "--bind")
    for path, inside, mode in mounts:
        for parent in reversed(inside.parents):
            if parent not in made and not _under(parent, system):
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        args += [mode, str(path), str(inside)]
        made.add(inside)
        git_link = path / ".git"
        if mode == "--bind" and git_link.is_file():
            # read-only: a command that could rewrite the worktree's .git (pointing it at a
            # repository whose config runs commands) would own the harness's next git call
            args += ["--ro-bind", str(git_link), str(inside / ".git")]
    if view.egress is not None:
        args += ["--dir", "/run", "--ro-bind", str(view.egress), EGRESS_SOCKET]
        command = relayed(command)
    if view.writable:
        args += ["--chdir", str(mounts[0][1])]
    args += ["--remount-ro", "/"]
    args += ["--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if not view.share_pid:
        args += ["--unshare-pid"]
    if not view.network:
        args += ["--unshare-net"]
    if as_root:
        args += ["--cap-drop", "ALL"]
        keep = view.keep_caps or ("CAP_SETUID", "CAP_SETGID")  # for setpriv, which drops them
        for cap in keep:
            args += ["--cap-add", cap]
    else:
        args += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    args += ["--die-with-parent", "--new-session"] + (["--clearenv"] if view.clear_env else [])
    for key, value in view.env.items():
        args += ["--setenv", key, value]
    if as_root and not view.keep_caps:
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        command = [
            setpriv,
            f"--reuid={SANDBOX_UID}",
            f"--regid={SANDBOX_GID}",
            "--clear-groups",
            "--no-new-privs",
            "--inh-caps=-all",
            "--",
            *command,
        ]
    return [*args, *command]


def claim(folders: Iterable[Path]) -> int:
    """Walk ``folders`` once: as root, make their entries the sandbox uid's, so its commands
    can write there (the worktree's ``.git`` link stays the harness's); return the bytes they
    hold (allocated blocks, links not followed)."""
    as_root = running_as_root()
    total = 0
    for top in folders:
        git_link = top / ".git"
        entries = [top]
        for parent, dirs, files in os.walk(top):
            entries += [Path(parent, name) for name in (*dirs, *files)]
        for entry in entries:
            try:
                info = entry.lstat()
                if as_root and info.st_uid != SANDBOX_UID and entry != git_link:
                    os.lchown(entry, SANDBOX_UID, SANDBOX_GID)
                if as_root and entry == top and info.st_mode & 0o011 != 0o011:
                    # bubblewrap enters it as root without capabilities, after the chown
                    top.chmod(info.st_mode & 0o7777 | 0o011)
            except FileNotFoundError:
                continue
            total += info.st_blocks * 512
    return total


def _fs_used(path: Path) -> int:
    stats = os.statvfs(path)
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize


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
    ) -> None:
        if not sandbox_available():
            raise SandboxError("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
        if running_as_root() and not Path(shutil.which("setpriv") or "/usr/bin/setpriv").exists():
            raise SandboxError("setpriv is not installed (util-linux): apt-get install util-linux")
        self.worktree = worktree.resolve()
        self.limits = limits or Limits()
        self.hidden = [p.resolve() for p in hidden or []]
        self.network = network
        self.seen_as = seen_as.resolve() if seen_as is not None else None
        self.egress = egress
        self.held_bytes = 0  # what the worktree held when the last command started

    def view(self) -> View:
        env = {
            "PATH": SAFE_PATH,
            "HOME": "/tmp",
            "LANG": "C.UTF-8",
            "TMPDIR": "/tmp",
            "CI": "true",
            "PYTHONDONTWRITEBYTECODE": "1",
            **(EGRESS_ENV if self.egress is not None else {}),
        }
        return View(
            writable=(self.worktree,),
            hidden=tuple(self.hidden),
            network=self.network,
            tmp_mb=self.limits.tmp_mb,
            env=env,
            seen_as=self.seen_as,
            egress=self.egress,
        )

    def argv(self, command: str, seccomp_fd: int | None = None) -> list[str]:
        return bwrap_argv(self.view(), ["/bin/sh", "-c", command], seccomp_fd=seccomp_fd)

    def popen(
        self,
        command: str,
        cgroup: PidsCgroup | None = None,
        stdout: int | object = subprocess.PIPE,
        info_fd: int | None = None,
        stdin: int = subprocess.DEVNULL,
    ) -> subprocess.Popen[bytes]:
        """Start ``command`` in the sandbox (the one place a sandboxed process is spawned)."""
        limits = self.limits
        self.held_bytes = claim([self.worktree])

        def child_setup() -> None:
            if cgroup is not None:
                cgroup.enter()
            apply_rlimits(limits)

        filter_fd = seccomp.filter_fd()
        fds = tuple(fd for fd in (filter_fd, info_fd) if fd is not None)
        argv = self.argv(command, seccomp_fd=filter_fd)
        if info_fd is not None:
            argv = [argv[0], "--info-fd", str(info_fd), *argv[1:]]
        try:
            return subprocess.Popen(
                argv,
                stdin=stdin,
                stdout=stdout,  # type: ignore[arg-type]
                stderr=subprocess.STDOUT,
                env={"PATH": SAFE_PATH},
                start_new_session=True,
                pass_fds=fds,
                preexec_fn=child_setup,
            )
        finally:
            if filter_fd is not None:
                os.close(filter_fd)

    def run(self, command: str, *, timeout_s: float | None = None) -> CommandResult:
        timeout = timeout_s or self.limits.timeout_s
        cap = self.limits.output_bytes
        cgroup = PidsCgroup(self.limits.max_processes)
        disk_cap = self.limits.disk_mb * 1024 * 1024
        used_before = _fs_used(self.worktree)
        started = time.monotonic()
        proc = self.popen(command, cgroup)
        assert proc.stdout is not None
        chunks: list[bytes] = []
        size, limit_hit = 0, None
        try:
            while True:
                left = timeout - (time.monotonic() - started)
                if left <= 0:
                    limit_hit = "time"
                    break
                if self.held_bytes + _fs_used(self.worktree) - used_before > disk_cap:
                    limit_hit = "disk"
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
        held = self.held_bytes + _fs_used(self.worktree) - used_before
        if limit_hit is None and held > disk_cap:
            limit_hit = "disk"
        if limit_hit == "disk":
            held //= 1024 * 1024
            output += (
                f"\n[disk limit: the command wrote more than {self.limits.disk_mb} MB or the "
                f"worktree now holds about {held} MB (limit {self.limits.disk_mb} MB); "
                "remove what is not needed]"
            )
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
