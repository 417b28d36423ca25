"""Pushing to and fetching from a forge's git server with a token.

The token reaches git only through the environment of the one git process that needs it,
read back by an askpass script that does not contain it: never in a URL, an argument, the
repository's config or a credential store (credential helpers are switched off for every
git call, ``harness.git.env``, so a user's ``credential.helper=store`` cannot save it)."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from harness.caches import PROCESS, Locks
from harness.cpu import waiting
from harness.errors import GitError
from harness.git.branches import is_factory_branch
from harness.git.repo import GitRepo

_ASKPASS = """#!/bin/sh
case "$1" in
  Username*) echo x-access-token ;;
  *) printf '%s\\n' "$FACTORY_GIT_TOKEN" ;;
esac
"""
TRACKING = "refs/factory/remote"


class _RemoteLocks(Locks):
    """One per repository: its fetches and pushes, one at a time."""


def _lock(repo: GitRepo) -> threading.Lock:
    return PROCESS.part(_RemoteLocks).get(repo.path, threading.Lock)


class Remote:
    """A forge's repository over HTTPS, authenticated with ``token``."""

    def __init__(self, repo: GitRepo, url: str, token: str) -> None:
        if "@" in url.split("//", 1)[-1].split("/", 1)[0]:
            raise GitError("the remote URL must not carry credentials")
        self.repo = repo
        self.url = url
        self._token = token

    def _git(self, *args: str) -> None:
        """``git <args>`` against the remote, the token in the environment of this one git
        process alone (read back by the askpass script)."""
        # the run's CPU slot goes to another run while the forge's server answers
        with waiting(), tempfile.TemporaryDirectory(prefix="factory-askpass-") as folder:
            script = Path(folder) / "askpass"
            script.write_text(_ASKPASS)
            script.chmod(0o700)
            env = {
                "GIT_ASKPASS": str(script),
                "FACTORY_GIT_TOKEN": self._token,
                "GIT_TERMINAL_PROMPT": "0",
                "GCM_INTERACTIVE": "never",
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            }
            self.repo.git(*args, env=env)

    def push(self, sha: str, branch: str) -> None:
        """Set the remote ``branch`` to ``sha`` (the factory's own branches only: an issue's
        or a lesson's)."""
        if not is_factory_branch(branch):
            raise GitError(f"push: {branch} is not a factory branch")
        self._git("push", "--porcelain", self.url, f"+{sha}:refs/heads/{branch}")

    def push_fast_forward(self, old: str, new: str, branch: str) -> None:
        """Move the remote ``branch`` from ``old`` to ``new``; refused if it moved."""
        self._git(
            "push",
            "--porcelain",
            f"--force-with-lease=refs/heads/{branch}:{old}",
            self.url,
            f"{new}:refs/heads/{branch}",
        )

    def fetch(self, branch: str) -> str:
        """Fetch the remote ``branch``; return its head SHA (kept under ``refs/factory``)."""
        ref = f"{TRACKING}/{branch}"
        self._git("fetch", "--no-tags", "--quiet", self.url, f"+refs/heads/{branch}:{ref}")
        sha = self.repo.rev_parse(ref)
        if sha is None:
            raise GitError(f"fetch: the remote has no branch {branch}")
        return sha

    def sync(self, branch: str) -> str:
        """Bring the local ``branch`` up to the remote one (fast-forward only)."""
        with waiting(), _lock(self.repo):  # waits for the server, and for the lock
            return self._sync(branch)

    def _sync(self, branch: str) -> str:
        remote = self.fetch(branch)
        local = self.repo.rev_parse(f"refs/heads/{branch}")
        if local == remote:
            return remote
        if local is None:
            self.repo.git("update-ref", f"refs/heads/{branch}", remote)
            return remote
        if not self.repo.is_ancestor(local, remote):
            if self.repo.is_ancestor(remote, local):
                return local  # ahead: a local commit not pushed yet (the push will follow)
            raise GitError(
                f"{branch} has diverged from the remote: local {local[:12]}, remote "
                f"{remote[:12]}; reconcile it by hand"
            )
        self.repo.advance(branch, local, remote, f"factory: sync {branch} from the remote")
        return remote
