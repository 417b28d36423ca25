"""A test result is a fact about a tree (docs/testing.md, "A result is a fact about a tree"):
what decides it — the tree, the setup inputs, the command — is its key, and the newest result
of each key is found by index (a flag naming the run that kept it). It is reused only as that
run's record has it, only when it passed, on a host the tests see as that run's did
(``host_seen``), and never for a tree whose suite holds a check heal found flaky. Each run of
tests is kept as an event of its run before it starts, so every run is counted: one killed,
or stopped by its time limit, included."""

from __future__ import annotations

import functools
import json
import platform
import re
import shutil
import subprocess
from collections.abc import Collection
from pathlib import Path

from harness.artifacts import ANY_RUN, ON_AN_APP, Healed, Tested
from harness.config.settings import Settings
from harness.digest import sha256
from harness.engine.context import StepContext
from harness.engine.records import RunRecords
from harness.git.repo import GitRepo
from harness.sandbox.bwrap import SAFE_PATH
from harness.sandbox.policy import setup_key
from harness.store.db import Store

RAN = "tests.ran"  # the event each run of tests is kept as, before it starts
HOST_CHANGED = "tests.host_changed"  # what the tests see of the host changed: no reuse
DPKG_STATUS = Path("/var/lib/dpkg/status")  # the system's packages, as Debian's dpkg has them


@functools.lru_cache(maxsize=8)
def _packages(commands: str, changed_ns: int) -> dict[str, str]:
    """The Debian package of each system program ``commands`` name (found on the sandbox's
    ``PATH``; the package whose list of files names it, with or without ``/usr``: a link such
    as ``python3`` is its own package's, which needs its target's) and every package it
    needs, transitively, by version (``changed_ns``: when the package list changed); without
    the list, each program by its modification time."""
    words = re.split(r"[\s;&|()]+", commands)
    programs = {p for word in words if (p := shutil.which(word, path=SAFE_PATH))}
    status = DPKG_STATUS.read_text(errors="replace") if changed_ns else ""
    stanzas = [dict(re.findall(r"^([\w-]+): (.*)$", s, re.M)) for s in status.split("\n\n")]
    installed = {
        f["Package"]: (
            f["Version"],
            re.findall(r"[\w.+-]+", f"{f.get('Depends')} {f.get('Pre-Depends')}"),
        )
        for f in stanzas
        if f.get("Status", "").endswith(" installed")
    }
    named = [f"-e{path}" for p in programs for path in {p, p.removeprefix("/usr")}]
    found = subprocess.run(
        ["grep", "-rlxF", "--include=*.list", *named, "/var/lib/dpkg/info"],
        capture_output=True,
        text=True,
    )
    todo = {Path(f).stem.split(":")[0] for f in found.stdout.split()}
    seen: dict[str, str] = {}
    while todo:
        name = todo.pop()
        if name in installed and name not in seen:
            seen[name], wanted = installed[name]
            todo.update(wanted)
    return seen or {p: str(Path(p).stat().st_mtime_ns) for p in programs}


def host_seen(settings: Settings) -> dict[str, str]:
    """What the set-up and test commands see of the host, by what decides it: the packages
    of the system's programs they name (``_packages``; one the commands do not need is none
    of it: installing one, or a runner image that changed others, leaves a result standing)
    and the machine."""
    commands = settings.config.commands
    changed = DPKG_STATUS.stat().st_mtime_ns if DPKG_STATUS.exists() else 0
    seen = _packages(f"{commands.setup or ''} {commands.test}", changed)
    return {**seen, "machine": platform.machine()}


def decided_by(settings: Settings, repo: GitRepo, sha: str, trusted: str, command: str) -> str:
    """The key of a result of ``command`` on commit ``sha`` set up from ``trusted``."""
    facts = [repo.tree_of(sha), setup_key(settings, repo, trusted), command]
    return sha256(json.dumps(facts))[:40]


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
    tests = [c.removeprefix("test:") for c in flaky if not c.startswith(ON_AN_APP)]
    paths = repo.tree(sha) if tests else {}
    return any("::" not in test or test.split("::")[0] in paths for test in tests)


def flakes(store: Store) -> dict[str, list[tuple[str, str]]]:
    """Each check heal found flaky, with every time it was: (the heal run, the commit),
    oldest first."""
    found: dict[str, list[tuple[str, str]]] = {}
    for run_id, healed in reversed(store.artifacts(Healed, None, ANY_RUN, limit=100_000)):
        for check in healed.flaky:
            found.setdefault(check, []).append((run_id, healed.sha))
    return found


def reused(ctx: StepContext, sha: str, trusted: str, flaky: Collection[str]) -> Tested | None:
    """The newest result of the whole suite on ``sha`` set up from ``trusted``, as the record
    of the run that ran it has it, if it passed on a host seen as this one (else None: run
    it), naming that run; a pass that the host voids is named in an event (what changed)."""
    services = ctx.services
    store, repo = services.store, services.repo
    key = decided_by(services.settings, repo, sha, trusted, services.settings.config.commands.test)
    run = store.get_flag(f"tests:{key}")
    if run is None or holds_flaky(repo, sha, flaky):
        return None
    tested = RunRecords(store.steps(run)).tested()
    kept = [t for t in tested if t.decided_by == key and not t.reused_from]  # it ran them
    if not kept or kept[-1].exit_code or kept[-1].limit_hit:
        return None
    was, now = kept[-1].host, host_seen(services.settings)
    if was != now:
        changed = sorted(set(was.items()) ^ set(now.items()))  # each side's versions
        store.append_event(
            ctx.run_id, HOST_CHANGED, {"issue": ctx.issue, "run": run, "changed": changed}
        )
        return None
    return kept[-1].evolve(reused_from=run)
