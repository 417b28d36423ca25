"""A GitHub Actions runner, on this machine, for the workflows ``factory init --ci`` writes.

Each job runs on a fresh runner (a workspace, a temp folder and a home of its own): its
``run:`` steps by bash, in order, with ``-eo pipefail`` as Actions runs them, the variables
Actions sets pointed at the GitHub stand-in, and the workflow's, job's and step's ``env``
with their ``${{ }}`` expressions evaluated. The actions the workflows use are done as they
do them: ``checkout`` clones from the stand-in (the workflow's own repository, with the
job's token, straight from the stand-in's bare repository when the runner is given it: the
same checkout, its ``origin`` the stand-in's URL, without the HTTP round trips),
``setup-python`` puts a ``python`` on PATH, ``upload-artifact`` / ``download-artifact``
keep a folder between jobs, and a job that ``uses:`` a reusable workflow runs that
workflow's jobs once per matrix entry. What a run
step prints is kept whole (``output``), and so is what it writes to ``GITHUB_STEP_SUMMARY``
(``summaries``).

The runner image is modelled too. The packages ``IMAGE_LACKS`` names (GitHub's Ubuntu image
has none of them) are hidden: each step runs in a mount namespace of its own where their
programs are ``/dev/null`` until a step installs them with ``sudo apt-get install``, so a
job that does not install what the factory needs fails as it would on GitHub. ``sudo``
resets the environment unless given ``-E`` (secure_path: not the tool cache), ``apt-get``
needs root and installs only packages that exist, and ``python -m pip install`` installs
only the pinned source the workflow names (this checkout's harness, already installed): the
``factory`` it installs runs each command as the console entry point in a process of its own,
forked from a server that imported the harness once (``tests/cli_helpers.py``) and entering
the step's mount namespace, so it sees what the step hides, with the step's standard streams,
environment and folder; its exit code is the command's.
The kernel settings and services a job changes (``sysctl``, ``systemctl``) are left alone:
this is a shared machine. The image's browser is this machine's Chromium."""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from multiprocessing import reduction
from pathlib import Path
from typing import Any

import yaml

from harness.cli import main
from tests.cli_helpers import forked

IMAGE_LACKS = ("bubblewrap", "squid", "socat", "strace")
IMAGE_BROWSER = "/usr/lib/chromium/chromium-headless-shell"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
VENV_BIN = Path(sys.executable).parent

_SHIMS = {
    "sudo": """
keep=0
while [ $# -gt 0 ]; do
  case "$1" in -E|--preserve-env) keep=1; shift;; -*) shift;; *) break;; esac
done
if [ "$keep" = 1 ]; then exec env SUDO_USER=runner "$@"; fi
exec env -i PATH="$RUNNER_SECURE_PATH" HOME=/root SUDO_USER=runner \\
  RUNNER_SECURE_PATH="$RUNNER_SECURE_PATH" RUNNER_IMAGE="$RUNNER_IMAGE" "$@"
""",
    "apt-get": """
[ -n "$SUDO_USER" ] || { echo "E: Could not open lock file (13: Permission denied)" >&2; exit 100; }
case "$1" in update) exit 0;; install) shift;; *) echo "E: apt-get $1: not modelled" >&2; exit 100;; esac
for name; do
  case "$name" in -*) continue;; esac
  dpkg -s "$name" >/dev/null 2>&1 || { echo "E: Unable to locate package $name" >&2; exit 100; }
  echo "$name" >> "$RUNNER_IMAGE/installed"
  if [ -f "$RUNNER_IMAGE/hidden/$name" ]; then
    while read -r file; do umount "$file" 2>/dev/null || true; done < "$RUNNER_IMAGE/hidden/$name"
  fi
done
""",
    "sysctl": '[ -n "$SUDO_USER" ] || { echo "sysctl: permission denied" >&2; exit 1; }\n',
    "systemctl": '[ -n "$SUDO_USER" ] || { echo "systemctl: access denied" >&2; exit 1; }\n',
}
_PYTHON = """
if [ "$1 $2 $3" = "-m pip install" ]; then
  [ "$4" = "$RUNNER_PINNED" ] || { echo "pip: only $RUNNER_PINNED is served here" >&2; exit 1; }
  ln -sf "{factory}" "$(dirname "$0")/factory"; exit 0
fi
exec "{venv}/python" "$@"
"""


# ``factory`` on a runner, once installed: it hands its arguments, environment, folder, standard
# streams and mount namespace to the door and exits with the code of the process forked for it
_CLIENT = """#!{python} -IS
import json, os, socket, sys
door = socket.socket(socket.AF_UNIX)
door.connect({door!r})
asked = json.dumps([sys.argv[1:], dict(os.environ), os.getcwd()]).encode()
socket.send_fds(door, [asked], [0, 1, 2, os.open("/proc/self/ns/mnt", os.O_RDONLY)])
door.shutdown(socket.SHUT_WR)
code = int(door.makefile().read() or 1)
sys.exit(code if code >= 0 else 128 - code)
"""
_CLONE_NEWNS = 0x00020000


class _Fd:
    """A descriptor of this process, handed to a forked process as one of its own."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Fd._detached, (reduction.DupFd(self.fd),))

    @staticmethod
    def _detached(dup: Any) -> int:
        return int(dup.detach())


def _in_step(
    before: Callable[[], None] | None, args: list[str], env: dict[str, str], cwd: str, *fds: int
) -> None:
    """In the forked process: the step's mount namespace (the programs it masks), its standard
    streams, environment and folder, ``before`` (if given), then the console entry point, as
    the installed ``factory`` script runs it."""
    *streams, namespace = fds
    if ctypes.CDLL(None, use_errno=True).setns(namespace, _CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "setns")
    os.close(namespace)
    sys.stdin.close()  # the /dev/null a forked process starts with, whichever descriptor it has
    for target, fd in enumerate(streams):
        os.dup2(fd, target)
        os.close(fd)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.stdin = open(0, encoding="utf-8", closefd=False)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False, buffering=1)
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
    sys.argv = ["factory", *args]
    if before is not None:
        before()
    try:
        main(args)
    finally:
        atexit._run_exitfuncs()  # a process of its own ends as one: its exit handlers run


def _serve(door: socket.socket, before: Callable[[], None] | None) -> None:
    while True:
        conn, _ = door.accept()
        threading.Thread(target=_answer, args=(conn, before), daemon=True).start()


def _answer(conn: socket.socket, before: Callable[[], None] | None) -> None:
    with conn:
        asked, fds, _, _ = socket.recv_fds(conn, 1 << 20, 4)
        while chunk := conn.recv(1 << 16):
            asked += chunk
        args, env, cwd = json.loads(asked)
        try:
            process = forked(_in_step, before, args, env, cwd, *map(_Fd, fds))
        finally:
            for fd in fds:
                os.close(fd)
        process.join()
        conn.sendall(str(process.exitcode).encode())


@cache
def _door(before: Callable[[], None] | None = None) -> Path:
    """The ``factory`` a job installs: each command it runs is the console entry point forked
    from the server that imported the harness once (``tests/cli_helpers.py``), in the step's
    own mount namespace, with its streams, environment and folder, ``before`` (a function of
    a module's top level: stand-ins for what the test is not about) run first; an interpreter
    start and the harness's imports cost most of a second of CPU a command, a fork a few
    milliseconds. The door is a socket in a folder only this user may enter."""
    folder = Path(tempfile.mkdtemp(prefix="runner-door-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    door = socket.socket(socket.AF_UNIX)
    door.bind(str(folder / "door"))
    door.listen(8)
    threading.Thread(target=_serve, args=(door, before), daemon=True).start()
    client = folder / "factory"
    client.write_text(_CLIENT.format(python=sys.executable, door=str(folder / "door")))
    client.chmod(0o755)
    return client


@cache
def _programs(package: str) -> tuple[str, ...]:
    listed = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=True)
    return tuple(
        line
        for line in listed.stdout.splitlines()
        if re.search(r"/s?bin/[^/]+$", line) and Path(line).is_file()
    )


def _script(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)


class _Expr:
    """``${{ }}`` expressions, as far as the generated workflows use them."""

    def __init__(self, contexts: dict[str, Any]) -> None:
        self.contexts = contexts

    def _get(self, dotted: str) -> Any:
        value: Any = self.contexts
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def value(self, expr: str) -> Any:
        pieces = re.split(r"('(?:[^']|'')*')", expr.strip())
        code = []
        for i, piece in enumerate(pieces):
            if i % 2:
                code.append(repr(piece[1:-1].replace("''", "'")))
                continue
            piece = re.sub(r"&&", " and ", piece.replace("||", " or "))
            piece = re.sub(r"!(?!=)", " not ", piece)
            piece = re.sub(
                r"\b([A-Za-z_][\w-]*(?:\.[\w-]+)+)",
                lambda m: f"_get({m.group(1)!r})",
                piece,
            )
            code.append(piece)
        scope = {
            "_get": self._get,
            "always": lambda: True,
            "fromJSON": json.loads,
            "true": True,
            "false": False,
            "null": None,
        }
        return eval(" ".join(code), scope)  # a test's own workflow text

    def text(self, value: Any) -> str:
        def one(m: re.Match[str]) -> str:
            got = self.value(m.group(1))
            return "" if got is None else str(got)

        return re.sub(r"\$\{\{\s*(.*?)\s*\}\}", one, str(value))

    def condition(self, value: Any) -> bool:
        if value is None:
            return True
        text = str(value).strip()
        inner = re.fullmatch(r"\$\{\{(.*)\}\}", text, re.S)
        return bool(self.value(inner.group(1) if inner else text))


@dataclass
class Runner:
    """Runs workflows of ``repo`` (a checkout holding ``.github/workflows``) against GitHub at
    ``server`` / ``api``; ``root`` holds every job's runner and the artifacts."""

    root: Path
    server: str
    api: str
    repository: str
    token: str
    pinned: str  # the package spec the workflows install
    secrets: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    artifacts: Path | None = None  # where artifacts are kept between jobs (default: root's)
    bare: Path | None = None  # the stand-in's bare repository of ``repository``, if at hand
    skip: frozenset[str] = frozenset()  # job ids taken as done, not run
    after: Callable[[str], None] = lambda _: None  # called with "workflow:job" after each
    before: Callable[[], None] | None = None  # run first in each command ``factory`` runs
    environment: dict[str, str] = field(
        default_factory=dict
    )  # more of every job's (a stand-in's URL)
    jobs: list[str] = field(default_factory=list)  # "workflow:job", as they ran
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # by "workflow:job"
    log: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)  # each run: step's whole output, as logged
    summaries: list[str] = field(default_factory=list)  # what steps wrote to GITHUB_STEP_SUMMARY

    def __post_init__(self) -> None:
        self.shims = self.root / "shims"
        self.shims.mkdir(parents=True, exist_ok=True)
        for name, body in _SHIMS.items():
            _script(self.shims, name, body)
        self.artifacts = self.artifacts or self.root / "artifacts"
        self.count = 0

    def workflow(self, path: Path, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run every job of the workflow in ``path`` in the order of its ``needs`` (a job
        whose needs failed is not run); the results by job id (``ok``, ``outputs``)."""
        wf = yaml.safe_load(path.read_text())
        done: dict[str, dict[str, Any]] = {}
        pending = dict(wf["jobs"])
        while pending:
            ready = [j for j, job in pending.items() if set(_listed(job.get("needs"))) <= set(done)]
            for job_id in ready:
                job = pending.pop(job_id)
                needs = {n: done[n] for n in _listed(job.get("needs"))}
                if job_id in self.skip:
                    done[job_id] = {"ok": True, "outputs": {}}
                elif any(not r["ok"] for r in needs.values()):
                    done[job_id] = {"ok": False, "outputs": {}}
                elif any(r.get("skipped") for r in needs.values()):  # as GitHub skips it
                    done[job_id] = {"ok": True, "outputs": {}, "skipped": True}
                else:
                    done[job_id] = self._job(path, wf, job_id, job, inputs or {}, needs)
                    self.results[f"{path.name}:{job_id}"] = done[job_id]
                    self.after(f"{path.name}:{job_id}")
        return done

    def _contexts(self, inputs: dict[str, Any], needs: dict[str, Any]) -> dict[str, Any]:
        return {
            "github": {
                "token": self.token,
                "repository": self.repository,
                "event_name": "workflow_dispatch",
                "event": {"issue": {}, "label": {}},
                "run_id": "4242",
                "run_attempt": "1",
            },
            "secrets": self.secrets,
            "vars": self.variables,
            "inputs": inputs,
            "needs": needs,
        }

    def _job(
        self,
        path: Path,
        wf: dict[str, Any],
        job_id: str,
        job: dict[str, Any],
        inputs: dict[str, Any],
        needs: dict[str, Any],
    ) -> dict[str, Any]:
        ctx = self._contexts(inputs, needs)
        expr = _Expr(ctx)
        if not expr.condition(job.get("if")):
            return {"ok": True, "outputs": {}, "skipped": True}
        if "uses" in job:  # a reusable workflow, once per matrix entry
            matrix = {
                k: expr.value(re.sub(r"^\$\{\{|\}\}$", "", str(v).strip()))
                for k, v in job.get("strategy", {}).get("matrix", {}).items()
            }
            ((name, values),) = matrix.items() or [("", [None])]  # no matrix: called once
            called = path.parent / Path(job["uses"]).name
            ok = True
            for value in values:
                ctx["matrix"] = {name: value}
                with_ = {k: expr.text(v) for k, v in job.get("with", {}).items()}
                secrets = {k: expr.text(v) for k, v in job.get("secrets", {}).items()}
                saved, self.secrets = self.secrets, secrets
                try:
                    results = self.workflow(called, with_)
                finally:
                    self.secrets = saved
                ok = ok and all(r["ok"] for r in results.values())
            return {"ok": ok, "outputs": {}}
        self.count += 1
        home = self.root / f"job-{self.count}-{job_id}"
        workspace, temp = home / "work", home / "temp"
        for folder in (workspace, temp, home / "home", home / "tool", home / "image"):
            folder.mkdir(parents=True)
        (home / "image" / "installed").touch()
        (home / "image" / "hidden").mkdir()
        for package in IMAGE_LACKS:
            (home / "image" / "hidden" / package).write_text("\n".join(_programs(package)))
        ctx["runner"] = {"temp": str(temp)}
        ctx["github"]["workspace"] = str(workspace)
        ctx["steps"] = {}
        ctx["env"] = {}
        env = {
            "HOME": str(home / "home"),
            "PATH": f"{self.shims}:{SYSTEM_PATH}",
            "LANG": "C.UTF-8",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_SERVER_URL": self.server,
            "GITHUB_API_URL": self.api,
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_RUN_ID": "4242",
            "RUNNER_TEMP": str(temp),
            "RUNNER_SECURE_PATH": f"{self.shims}:{SYSTEM_PATH}",
            "RUNNER_IMAGE": str(home / "image"),
            "RUNNER_PINNED": self.pinned,
            **self.environment,
        }
        for scope in (wf.get("env", {}), job.get("env", {})):
            for key, value in scope.items():
                env[key] = ctx["env"][key] = expr.text(value)
        env["FACTORY_CHROMIUM"] = IMAGE_BROWSER  # the image's browser
        where = job.get("defaults", {}).get("run", {}).get("working-directory", ".")
        self.jobs.append(f"{path.name}:{job_id}")
        for step in job["steps"]:
            if not expr.condition(step.get("if")):
                continue
            ok = self._step(step, expr, env, workspace, home, where)
            if not ok:
                return {"ok": False, "outputs": {}}
        outputs = {k: expr.text(v) for k, v in job.get("outputs", {}).items()}
        return {"ok": True, "outputs": outputs}

    def _step(
        self,
        step: dict[str, Any],
        expr: _Expr,
        env: dict[str, str],
        workspace: Path,
        home: Path,
        where: str,
    ) -> bool:
        with_ = {k: expr.text(v) for k, v in step.get("with", {}).items()}
        uses = str(step.get("uses", "")).split("@")[0]
        if uses == "actions/checkout":
            target = workspace / with_.get("path", "")
            repository = with_.get("repository") or self.repository
            token = with_.get("token") or self.token
            if self.bare is not None and (repository, token) == (self.repository, self.token):
                url = f"{self.server}/{repository}.git"
                done = subprocess.run(
                    ["git", "clone", "-q", "--no-hardlinks", str(self.bare), str(target)],
                    capture_output=True, text=True, env={**os.environ, "HOME": env["HOME"]},
                )  # fmt: skip
                if done.returncode == 0:
                    done = subprocess.run(
                        ["git", "-C", str(target), "remote", "set-url", "origin", url],
                        capture_output=True, text=True,
                    )  # fmt: skip
                self.log.append(f"checkout {repository}: {done.returncode} {done.stderr[-500:]}")
                return done.returncode == 0
            auth = subprocess.run(
                ["base64", "-w0"], input=f"x-access-token:{token}", capture_output=True, text=True
            ).stdout
            done = subprocess.run(
                ["git", "-c", f"http.extraHeader=Authorization: basic {auth}", "clone", "-q",
                 f"{self.server}/{repository}.git", str(target)],
                capture_output=True, text=True, env={**os.environ, "HOME": env["HOME"]},
            )  # fmt: skip
            self.log.append(f"checkout {repository}: {done.returncode} {done.stderr[-500:]}")
            return done.returncode == 0
        if uses == "actions/setup-python":
            python = _PYTHON.replace("{venv}", str(VENV_BIN)).replace(
                "{factory}", str(_door(self.before))
            )
            _script(home / "tool", "python", python)
            env["PATH"] = f"{home / 'tool'}:{env['PATH']}"
            return True
        if uses in ("actions/upload-artifact", "actions/download-artifact"):
            store = self.artifacts / with_["name"]
            if uses.endswith("download-artifact"):
                shutil.copytree(store, with_["path"], dirs_exist_ok=True)
                return True
            paths = [Path(p) for p in with_["path"].split("\n") if p.strip()]
            base = paths[0] if len(paths) == 1 else Path(os.path.commonpath(paths))
            for p in paths:
                if p.exists():
                    shutil.copytree(p, store / p.relative_to(base), dirs_exist_ok=True)
            return True
        assert "run" in step, f"a step this runner does not model: {step}"
        step_env = {**env, **{k: expr.text(v) for k, v in step.get("env", {}).items()}}
        output = home / f"output-{len(self.log)}"
        output.touch()
        step_env["GITHUB_OUTPUT"] = str(output)
        summary = home / f"summary-{len(self.log)}"
        step_env["GITHUB_STEP_SUMMARY"] = str(summary)
        script = home / f"step-{len(self.log)}.sh"
        script.write_text(step["run"])
        hidden = [
            f
            for package in IMAGE_LACKS
            if package not in (home / "image" / "installed").read_text().split()
            for f in _programs(package)
        ]
        mask = 'for f in "$@"; do mount --bind /dev/null "$f"; done; exec bash --noprofile --norc -eo pipefail "$0"'
        cwd = workspace / step.get("working-directory", where)
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--", "bash", "-c", mask,
             str(script), *hidden],
            cwd=cwd, env=step_env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        self.log.append(
            f"$ {step['run'].strip()}\n[exit {done.returncode}]\n{done.stdout[-3000:]}"
            f"{done.stderr[-3000:]}"
        )
        self.output.append(done.stdout + done.stderr)
        self.summaries.append(summary.read_text() if summary.exists() else "")
        if step.get("id"):
            pairs = [line.partition("=") for line in output.read_text().splitlines()]
            expr.contexts["steps"][step["id"]] = {"outputs": {k: v for k, _, v in pairs}}
        return done.returncode == 0


def _listed(value: Any) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)
