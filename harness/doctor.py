"""``factory doctor``: the set-up tried for real on the production branch, before any issue
(docs/user-guide.md, "4. ``factory doctor``"), with the same functions validation runs; the
model provider runs would use is reported beside the checks."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.artifacts import NetworkRecord
from harness.browser.chromium import find_chromium
from harness.browser.drivers import Drivers
from harness.browser.journeys import HoldoutCheck, load_holdout
from harness.caches import PROCESS
from harness.config.settings import Settings, load_settings
from harness.errors import ConfigErrors, UsageError
from harness.faults import fault_point
from harness.git.repo import GitRepo
from harness.git.worktrees import WorktreeManager
from harness.model.provider import ProviderReadiness, provider_readiness
from harness.onboard.check import check
from harness.onboard.scaffold import declaring
from harness.sandbox.app import AppNotReady
from harness.sandbox.bwrap import Sandbox
from harness.sandbox.limits import Limits
from harness.sandbox.policy import prepare_worktree, sealed_hidden_paths, worktree_sandbox
from harness.validate.evidence import fresh_app, journeys_against

TAIL_CHARS = 1500
_MISSING = re.compile(r"No module named '?(\w+)")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Check:
    name: str  # setup | test | start | journey: <name>
    passed: bool
    seconds: float
    detail: str  # one line: the command, or why it failed
    output: str = ""  # the tail of what it printed


@dataclass
class DoctorReport:
    commit: str
    provider: ProviderReadiness
    checks: list[Check] = field(default_factory=list)
    network: NetworkRecord | None = None  # setup's connections through the egress proxy

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def warnings(self) -> list[str]:
        """What passed but a person must see: hosts setup asked for that the proxy refused."""
        refused = self.network.refused() if self.network else []
        said = f"setup asked for hosts the egress proxy refused: {', '.join(refused[:20])}"
        return [f"{said} (REFUSED above): look at what setup runs"] if refused else []


def _tail(text: str) -> str:
    return text[-TAIL_CHARS:].strip("\n")


def _sandbox_check(sandbox: Sandbox) -> Check:
    """What the sandbox promises, seen from inside: no capability, no new privileges, not
    root when the factory is, and whether the seccomp filter is on."""
    from harness.sandbox import seccomp
    from harness.sandbox.bwrap import running_as_root

    result = sandbox.run("grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; id -u")
    fields = dict(line.split(":", 1) for line in result.output.splitlines() if ":" in line)
    uid = result.output.strip().splitlines()[-1] if result.output.strip() else "?"
    passed = (
        result.exit_code == 0
        and fields.get("CapEff", "").strip() == "0000000000000000"
        and fields.get("NoNewPrivs", "").strip() == "1"
        and (uid != "0" or not running_as_root())
    )
    filtered = "seccomp filter on" if seccomp.active() else "no seccomp filter (libseccomp missing)"
    detail = f"uid {uid}, CapEff {fields.get('CapEff', '?').strip()}, {filtered}"
    return Check("sandbox", passed, round(result.duration_s, 2), detail, _tail(result.output))


def _seal_check(settings: Settings, folder: Path) -> Check:
    """The sealed validator's interpreter started in its seal as validation starts it
    (``SEAL_COMMAND``, ``run_in_seal``) as far as its imports, asked nothing (an empty
    request: the seal's ``main`` returns once its imports are done): an environment that
    cannot import the harness there is named here, in the words a validation would record
    (``not_started``), before a validation meets it."""
    from harness.sandbox.peers import Peers
    from harness.validate.sealed import SEAL_COMMAND, not_started, run_in_seal

    started = time.monotonic()
    hidden = sealed_hidden_paths(settings)  # as validation masks them
    done = run_in_seal(list(SEAL_COMMAND), hidden, [folder], [], "", 300, Peers(), None)
    said = str(not_started(done)) if done.returncode else "its interpreter imports the harness"
    return Check("seal", not done.returncode, round(time.monotonic() - started, 2), said)


def _setup(settings: Settings, path: Path, report: DoctorReport, fresh: bool) -> Check | None:
    """``commands.setup`` as every run sets up production: ``prepare_worktree``, its result
    kept for the next tree of the same setup inputs; unless ``fresh``, a kept result is
    copied in instead (None: no setup ran)."""
    prepared = prepare_worktree(settings, path, report.commit, report.commit, fresh=fresh)
    report.network = prepared.network
    result = prepared.online
    if result is None:  # a kept set-up reused, or the egress proxy could not start
        return Check("setup", False, 0.0, prepared.problem) if prepared.problem else None
    return _command("setup", str(settings.config.commands.setup), lambda: result)


def _runner_missing(settings: Settings, test: Check) -> Check:
    """``test``, naming where pyproject.toml declares a module it could not import (the
    extra or group that holds the runner, which set-up did not install)."""
    missing = _MISSING.findall("" if test.passed else test.output)[:1]
    if not (where := declaring(settings.root, *missing) if missing else ""):
        return test
    said = f"{missing[0]} is in pyproject.toml's extra or group {where!r}, not installed by setup"
    return replace(test, detail=f"{test.detail}: {said}")


def _command(name: str, command: str, run: Callable[[], Any]) -> Check:
    result = run()
    passed = result.exit_code == 0
    detail = f"`{command}` exited {result.exit_code}"
    if result.limit_hit:
        detail += f" (stopped: {result.limit_hit} limit)"
    return Check(name, passed, round(result.duration_s, 2), detail, _tail(result.output))


def _app_and_journeys(
    settings: Settings, path: Path, shots: Path, only: tuple[str, ...] | None
) -> list[Check]:
    """The app started on its own, then every journey and learned check on an app of its own;
    ``only``: those alone (those of these names, all when empty)."""
    commands = settings.config.commands
    if not commands.start:
        why = "commands.start is not set in factory.yaml: validation cannot run the app"
        return [Check("start", False, 0.0, why)]
    try:
        journeys = load_holdout(settings.holdout_dir)
    except Exception as exc:  # ConfigErrors: one line each, shown as a failed check
        problems = getattr(exc, "problems", [exc])
        return [Check("journeys", False, 0.0, f"the hold-out is broken: {problems[0]}")]
    names = [j.name for j in journeys]
    if unknown := [name for name in only or () if name not in names]:
        raise UsageError(f"--journey {unknown[0]!r}: no such journey ({', '.join(names)})")
    journeys = [j for j in journeys if j.name in (only or names)]
    checks: list[Check] = []  # the journeys alone: each starts an app of its own
    if only is None:  # the app once on its own; then each journey on a fresh one
        started = time.monotonic()
        try:
            with fresh_app(settings, path, f"doctor-{os.getpid()}-start") as app:
                ready = f"`{commands.start}` was ready on {commands.ready_path}"
                seconds = round(time.monotonic() - started, 2)
                checks = [Check("start", True, seconds, ready, _tail(app.output()))]
        except AppNotReady as exc:
            seconds = round(time.monotonic() - started, 2)
            detail = f"`{commands.start}`: {exc}"
            return [Check("start", False, seconds, detail, _tail(exc.output))]
    if not journeys:
        where = settings.holdout_dir / "journeys"
        checks.append(Check("journeys", False, 0.0, f"{where} holds no journey yet"))
    for i, journey in enumerate(journeys):
        checks.append(_journey(settings, path, journey, shots, f"doctor-{os.getpid()}-{i}"))
    return checks


def _journey(
    settings: Settings, path: Path, journey: HoldoutCheck, shots: Path, name: str
) -> Check:
    """One hold-out journey against a fresh copy of production's app: what an earlier
    journey wrote is never there."""
    try:
        with fresh_app(settings, path, name) as app:
            (result,) = journeys_against(
                settings, PROCESS.part(Drivers, lasting=True), app, [journey], shots
            )
    except AppNotReady as exc:  # the app's failure, not the journey's
        return Check("start", False, 0.0, f"for journey {journey.name!r}: {exc}")
    detail = (
        f"{result.steps_run} steps passed"
        if result.passed
        else f"{result.failed_at}: expected {result.expected}; got {result.actual}"
    )
    if result.screenshot:
        detail += f" (screenshot {result.screenshot})"
    return Check(f"journey: {result.name}", result.passed, round(result.duration_s, 2), detail)


def run_doctor(
    root: Path,
    state_dir: Path,
    provider: str | None,
    progress: Progress,
    journeys: tuple[str, ...] | None,
) -> DoctorReport:
    """Every check on the production commit, or with ``journeys`` the hold-out journeys alone
    (those of these names; all when empty) on an app of production's tree set up as a run
    would: a set-up kept for the same inputs is copied in, none runs. Before anything runs:
    the working copy's configuration problems (``factory check``'s) raise ConfigErrors, and a
    missing browser, which every journey needs, one line."""
    found = check(root, state_dir)
    if not found.ok:
        raise ConfigErrors(found.errors).first("(in the working copy: see 'factory check')")
    find_chromium()
    settings = load_settings(root, state_dir, provider)
    report = DoctorReport(
        settings.governance.commit, provider_readiness(root, settings.config.provider, provider)
    )
    return checked(settings, GitRepo(root), report, progress, journeys)


def checked(
    settings: Settings,
    repo: GitRepo,
    report: DoctorReport,
    progress: Progress = lambda _: None,
    journeys: tuple[str, ...] | None = None,
) -> DoctorReport:
    """``report`` with the checks (``run_doctor``'s) on its commit of ``repo``."""
    commands = settings.config.commands
    state_dir = settings.state_dir
    manager = WorktreeManager.of(repo, state_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = manager.create_owned(report.commit, f"doctor-{stamp}")  # a killed doctor's: pruned
    fault_point("doctor.worktree.made")
    shots = state_dir / "evidence" / f"doctor-{stamp}"
    try:
        if journeys is None:
            report.checks += [
                _sandbox_check(worktree_sandbox(settings, path, Limits(timeout_s=30))),
                _seal_check(settings, shots / "seal"),
            ]
        if commands.setup:
            progress("setup …")
            setup = _setup(settings, path, report, fresh=journeys is None)
            report.checks += [setup] if setup else []
            if setup and not setup.passed:
                return report  # nothing after it can be judged on a half-installed tree
        if journeys is None:
            progress("test …")
            sandbox = worktree_sandbox(settings, path, Limits(timeout_s=commands.test_timeout_s))
            test = _command("test", commands.test, lambda: sandbox.run(commands.test))
            report.checks.append(_runner_missing(settings, test))
        progress("start and journeys …")
        report.checks += _app_and_journeys(settings, path, shots, journeys)
        return report
    finally:
        manager.remove(path)
