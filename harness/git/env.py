"""The one way the harness starts git: GitPython's ``git.Git``, with an environment and a
configuration the harness controls, so that nothing outside the repository's own
``.git/config`` (checked and pinned by ``harness.git.integrity``) can make git run a program
(docs/how-it-works.md, "Git is the harness's, not the repository's"): an environment built
from scratch (``git_environment``), and command-line configuration (``SAFE_CONFIG``, which
wins over the repository's) that also never recurses into submodules and allows a worktree
owned by another user (the sandbox may hand worktrees to an unprivileged uid).

``HardenedGit`` starts git with that environment alone, which GitPython's own ``execute``
does not (docs/architecture.md: what goes through GitPython, and what does not and why).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import git  # GitPython: the one module that imports it
from pydantic import BaseModel

from harness.caches import PROCESS, Memo
from harness.paths import shipped_yaml


class Hardening(BaseModel, frozen=True, extra="forbid"):
    """How every git process starts and what a repository's own configuration may not set,
    shipped as data (``workflows/git/hardening.yaml``, its comments say what each is)."""

    command_line: tuple[str, ...]
    reads_worktree: frozenset[str]
    passed: tuple[str, ...]
    identity: tuple[str, ...]
    default_identity: dict[str, str]
    environment: dict[str, str]
    refused_keys: tuple[str, ...]


HARDENING = Hardening.model_validate(shipped_yaml("git", "hardening.yaml"))
# command-line configuration of every git invocation (it wins over the repository's own)
SAFE_CONFIG = HARDENING.command_line


def git_environment(extra: dict[str, str] | None) -> dict[str, str]:
    """The whole environment of a git process: built here, never inherited wholesale."""
    env = {key: os.environ[key] for key in HARDENING.passed if key in os.environ}
    env.setdefault("PATH", "/usr/bin:/bin")
    env.update(HARDENING.default_identity)
    env.update({key: os.environ[key] for key in HARDENING.identity if os.environ.get(key)})
    env.update(HARDENING.environment)
    if extra:
        env.update(extra)
    return env


class HardenedGit(git.Git):
    """GitPython's git command in ``cwd``, ``SAFE_CONFIG`` its persistent options."""

    GIT_PYTHON_GIT_EXECUTABLE = "git"

    def __init__(self, cwd: Path) -> None:
        super().__init__()  # no working directory of GitPython's: see ``cwd``
        self.cwd = cwd
        self.set_persistent_git_options(c=list(SAFE_CONFIG))

    def execute(  # type: ignore[override]
        self,
        command: Sequence[str],
        istream: bytes | int | None = None,
        as_process: bool = False,
        env: dict[str, str] | None = None,
        **_: object,
    ) -> tuple[int, bytes, bytes] | git.Git.AutoInterrupt:
        """GitPython's ``execute`` for the two kinds of call the harness makes, git started
        in ``cwd`` with ``git_environment(env)`` alone: ``as_process``, left running with
        pipes to its input and output (GitPython's ``AutoInterrupt`` ends it when it is
        dropped; its errors go nowhere); else run to its end with ``istream`` (bytes) as its
        input: (exit code, output, errors)."""
        proc = subprocess.Popen(
            command,
            cwd=self.cwd,
            env=git_environment(env),
            stdin=subprocess.DEVNULL if istream is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if as_process else subprocess.PIPE,
        )
        if as_process:
            return self.AutoInterrupt(proc, command)
        out, err = proc.communicate(istream if isinstance(istream, bytes) else None)
        return proc.returncode, out, err


def run_git(
    args: Sequence[str], cwd: Path, env: dict[str, str] | None = None, stdin: bytes | None = None
) -> tuple[int, bytes, str]:
    """``git <SAFE_CONFIG> <args>`` in ``cwd``: (exit code, output, errors); the caller reads
    the exit code. ``env`` adds variables to this one call's environment."""
    command = PROCESS.part(_Commands).get(cwd, lambda: HardenedGit(cwd))
    code, out, err = cast(
        tuple[int, bytes, bytes],
        command._call_process(args[0], *args[1:], istream=stdin, env=env),
    )
    return code, out, err.decode("utf-8", "replace")


class _Commands(Memo[HardenedGit]):
    """A ``HardenedGit`` per folder, shared by the threads running commands there (one costs
    more to make, about 40 µs, than to look up)."""
