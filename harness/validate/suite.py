"""A test result is a fact about a tree (docs/testing.md, "A result is a fact about a tree"):
what decides it — the tree, the setup inputs, the command, the runner's image — is its key,
and the newest result of each key is found by index (a flag naming the run that kept it). It
is reused only as that run's record has it, only when it passed, and never for a tree whose
suite holds a check heal found flaky. Each run of tests is kept as an event of its run before
it starts, so every run is counted: one killed, or stopped by its time limit, included."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Collection
from pathlib import Path

from harness.artifacts import RunRecords, Tested
from harness.config.settings import Settings
from harness.engine.context import Services
from harness.git.repo import GitRepo
from harness.sandbox.policy import setup_key
from harness.store.db import Store

RAN = "tests.ran"  # the event each run of tests is kept as, before it starts
_IMAGE = (Path("/etc/os-release"), Path("/var/lib/dpkg/status"))  # the system a sandbox shows
_RUNNER = ("ImageOS", "ImageVersion")  # what a GitHub-hosted runner says its image is


def decided_by(settings: Settings, repo: GitRepo, sha: str, trusted: str, command: str) -> str:
    """The key of a result of ``command`` on commit ``sha`` set up from ``trusted``, on this
    runner's image: the machine, the system's release and packages (when each last changed)
    and the image a CI runner names."""
    image: list[object] = [platform.machine(), *map(os.environ.get, _RUNNER)]
    image += [path.stat().st_mtime_ns if path.exists() else None for path in _IMAGE]
    facts = [repo.tree_of(sha), setup_key(settings, repo, trusted), command, image]
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:40]


def announce(
    store: Store, run_id: str | None, issue: int | None, command: str, suite: bool
) -> None:
    """A run of ``command`` begins (``suite``: the whole suite)."""
    store.append_event(run_id, RAN, {"issue": issue, "command": command, "suite": suite})


def suite_runs(store: Store, issue: int | None, run_id: str | None = None) -> tuple[int, list[str]]:
    """How many times the issue's runs (none: run ``run_id``, a heal) started the whole suite,
    and each command that ran chosen tests instead (docs/testing.md)."""
    events = store.events(kind=RAN, issue=issue) if issue else store.events(run_id, RAN)
    ran = [event.data for event in events]
    return sum(e["suite"] for e in ran), [e["command"] for e in ran if not e["suite"]]


def remember(store: Store, key: str, run_id: str) -> None:
    """``run_id`` kept the newest result of ``key`` (a pass or a failure)."""
    store.set_flag(f"tests:{key}", run_id)


def holds_flaky(repo: GitRepo, sha: str, flaky: Collection[str]) -> bool:
    """Whether the suite of ``sha`` holds one of the ``flaky`` checks: a test of a file the
    tree has (a test named otherwise, or ``tests`` when none was named, is taken as held)."""
    tests = [c.removeprefix("test:") for c in flaky if not c.startswith("journey:")]
    paths = repo.tree(sha) if tests else {}
    return any("::" not in test or test.split("::")[0] in paths for test in tests)


def reused(services: Services, sha: str, trusted: str, flaky: Collection[str]) -> Tested | None:
    """The newest result of the whole suite on ``sha`` set up from ``trusted``, as the record
    of the run that ran it has it, if it passed (else None: run it), naming that run."""
    store, repo = services.store, services.repo
    key = decided_by(services.settings, repo, sha, trusted, services.settings.config.commands.test)
    run = store.get_flag(f"tests:{key}")
    if run is None or holds_flaky(repo, sha, flaky):
        return None
    tested = RunRecords(store.steps(run)).tested()
    kept = [t for t in tested if t.decided_by == key and not t.reused_from]  # it ran them
    if not kept or kept[-1].exit_code or kept[-1].limit_hit:
        return None
    return kept[-1].model_copy(update={"reused_from": run})
