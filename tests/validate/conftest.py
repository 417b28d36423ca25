"""The demo's notes app as a target repository, wired to the stand-in Messages API."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from harness.artifacts import ValidatorRun
from harness.artifacts.browser import JourneyResult
from harness.cycle import cycle_exit
from harness.demo import generate
from harness.model.scripted import ScriptedModel, load_script
from harness.sandbox.bwrap import CommandResult, Sandbox
from harness.store.db import Store
from harness.validate.sealed import ValidatorQuestion
from tests.checks_passed import passed_as_asked
from tests.cli_helpers import run_cli
from tests.conftest import SCRUBBED_ENV, _every_merge_landed_a_tested_tree
from tests.factory_repo import git
from tests.standins.anthropic_standin import AnthropicStandIn

if TYPE_CHECKING:
    from tests.validate.scenarios import FullCycle, Guarded, Interrupted, Waiting

KEY = "sk-ant-validate-CANARY-0badc0ffee1234"
IMPL_CANARY = "IMPL-CANARY-7d41c2"
HOLDOUT_CANARY = "HOLDOUT-CANARY-93ab5e"
ISSUES = [
    ("owner", "Show how many notes there are", "Show 'N notes' under the heading."),
    ("owner", "Empty notes are silently accepted when they contain only tabs", "Refuse them."),
    ("owner", "Rename the Add button to Save", "Save reads better."),
]


def script_rules(extra: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    from harness.paths import workflows_dir

    rules: list[dict[str, Any]] = yaml.safe_load(
        (workflows_dir() / "demo" / "script.yaml").read_text()
    )
    return [*(extra or []), *rules]


def accept_rule(title: str, reason: str, kind: str = "chore") -> dict[str, Any]:
    """A scripted triage that accepts the issue titled ``title``."""
    return {
        "output": "submit_triage",
        "match": title,
        "turns": [
            [
                {
                    "tool": "submit_triage",
                    "input": {
                        "decision": "accept",
                        "priority": "p2",
                        "kind": kind,
                        "rule": "mission.md: Capabilities",
                        "reason": reason,
                        "acceptance_criteria": ["The home page still lists the notes."],
                    },
                }
            ]
        ],
    }


def make_app(root: Path) -> tuple[Path, Path]:
    """(repo, hold-out) under ``root``, with canaries planted in the implementation and in the
    hold-out (in the name of its one journey: every journey costs a browser in each check)."""
    repo, _, _ = generate(root)
    (repo / "app.py").write_text((repo / "app.py").read_text() + f"\n# {IMPL_CANARY}\n")
    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["provider"] = {"type": "anthropic", "max_retry_wait_s": 5}
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "commit", "-qam", "wired to the real API")
    holdout = root / "notes-holdout"
    journey = holdout / "journeys" / "add_note.yaml"
    text = journey.read_text()
    journey.write_text(text.replace("name: add a note\n", f"name: add a note {HOLDOUT_CANARY}\n"))
    assert HOLDOUT_CANARY in journey.read_text()
    return repo, holdout


@pytest.fixture
def app(tmp_path: Path) -> tuple[Path, Path]:
    """(repo, hold-out) with canaries planted in the implementation and in the hold-out."""
    return make_app(tmp_path)


def set_rules(repo: Path, **changes: object) -> None:
    """Commit ``factory_rules.md`` with the front matter's keys in ``changes`` replaced."""
    path = repo / "factory_rules.md"
    _, front, body = path.read_text().split("---\n", 2)
    rules = yaml.safe_load(front)
    rules.update(changes)
    path.write_text("---\n" + yaml.safe_dump(rules, sort_keys=False) + "---\n" + body)
    git(repo, "commit", "-qam", "factory rules for this scenario")


# --- a scenario several tests share: a module-scoped fixture plays it once, each test asserts
# its own property of what it left (``capsys``, ``monkeypatch`` and the autouse environment are
# one test's own, so the scenario brings its own) ---


@contextmanager
def isolated_env(state: Path, **extra: str) -> Iterator[pytest.MonkeyPatch]:
    """The environment the autouse ``_isolated_env`` gives a test whose state folder is
    ``state`` (plus ``extra``), while a scenario plays; as it was afterwards."""
    with pytest.MonkeyPatch.context() as mp:
        for name in SCRUBBED_ENV:
            mp.delenv(name, raising=False)
        mp.setenv("FACTORY_STATE_DIR", str(state))
        mp.setenv("FACTORY_MARKER_KEY", "test-marker-key-0f3c9a")
        for role in ("AUTHOR", "COMMITTER"):
            mp.setenv(f"GIT_{role}_NAME", "Test Maintainer")
            mp.setenv(f"GIT_{role}_EMAIL", "maintainer@example.invalid")
        for name, value in extra.items():
            mp.setenv(name, value)
        yield mp


class Output:
    """Stands in for ``capsys`` where ``run_cli`` takes it: while open, the standard streams
    write to buffers; ``readouterr`` hands over what was written since the last read."""

    def __init__(self) -> None:
        self._out, self._err = io.StringIO(), io.StringIO()
        self._saved = (sys.stdout, sys.stderr)

    def __enter__(self) -> Output:
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = self._out, self._err
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout, sys.stderr = self._saved

    def readouterr(self) -> tuple[str, str]:
        out, err = self._out.getvalue(), self._err.getvalue()
        for buffer in (self._out, self._err):
            buffer.seek(0)
            buffer.truncate()
        return out, err


def landed_tested_trees(state: Path) -> None:
    """The merge queue's invariant (``tests/conftest.py`` checks it after each test, in the
    test's own state folder) on a scenario's state folder."""
    _every_merge_landed_a_tested_tree(state / "state.db")


def serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra=None
) -> Iterator[AnthropicStandIn]:
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump(script_rules(extra)))
    with AnthropicStandIn(responder=ScriptedModel(load_script(path))) as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicStandIn]:
    yield from serve(tmp_path, monkeypatch)


def file_issues(capsys, repo: Path, which: list[int] | None = None) -> None:
    for i, (author, title, body) in enumerate(ISSUES, start=1):
        if which is None or i in which:
            res = run_cli(
                capsys,
                "--repo",
                str(repo),
                "issue",
                "new",
                "--title",
                title,
                "--body",
                body,
                "--author",
                author,
            )
            assert res.code == 0, res.err


def role_of(body: dict[str, Any]) -> str:
    names = {t["name"] for t in body.get("tools", [])}
    for tool, role in (
        ("submit_verdict", "validator"),
        ("submit_plan", "planner"),
        ("finish", "implementer"),
        ("submit_review", "reviewer"),
        ("submit_triage", "triage"),
    ):
        if tool in names:
            return role
    return "unknown"


def run_once(capsys, repo: Path, *extra: str) -> dict:
    res = run_cli(capsys, "--repo", str(repo), "run", "--once", "--json", *extra)
    # exit codes: docs/user-guide.md, "Commands"
    assert res.code == cycle_exit(res.json(), False), res.err
    return res.json()


# how long a validation waits for the others to join the queue: a bound on a hang, never an
# order (a wait that runs out fails its step)
QUEUED_WAIT_S = 420


def queued_together(monkeypatch, validations: int = 2, order: list[int] | None = None) -> None:
    """The validations of a cycle all join the merge queue before any of them builds its
    candidate, whatever the machine's timing: each is built on the changes ahead of it.
    With ``order``, they arrive in that order (the issues' numbers), whatever the timing.
    A validation that never arrives fails the step that waits for it, in words: the order is
    never given up for whatever order the machine's timing makes."""
    from harness.engine import actions as registry

    real_baseline = registry.actions().functions["validate.baseline"]
    assert real_baseline is not None
    barrier, joined = threading.Barrier(validations), set()
    arrived = threading.Condition()

    def baseline(
        ctx, **records
    ):  # the queue's order itself is the factory's (first come, first in)
        first = ctx.issue not in joined
        if first and order:
            ahead = set(order[: order.index(ctx.issue)])
            with arrived:
                if not arrived.wait_for(lambda: ahead <= joined, timeout=QUEUED_WAIT_S):
                    raise RuntimeError(f"#{ctx.issue}: {sorted(ahead - joined)} never joined")
        calibrated = real_baseline(ctx, **records)
        if first:
            with arrived:
                joined.add(ctx.issue)
                arrived.notify_all()
            try:
                barrier.wait(timeout=QUEUED_WAIT_S)
            except threading.BrokenBarrierError:
                raise RuntimeError(
                    f"#{ctx.issue}: {validations} validations never joined"
                ) from None
        return calibrated

    monkeypatch.setitem(registry.actions().functions, "validate.baseline", baseline)


def landed_in_order(store: Store) -> list[dict]:
    """The merges the factory recorded, in the order they landed, each with the check its
    tree was tested by (``check``)."""
    landed = []
    for run in store.list_runs(limit=None, workflow="validate"):
        steps = [s for s in store.steps(run.id) if s.status == "succeeded"]
        merge = next((s for s in steps if s.step_id == "merge" and s.outputs), None)
        if merge is not None:
            check = [s.outputs for s in steps if s.step_id == "check" and s.seq < merge.seq][-1]
            landed.append({**merge.outputs, "finished_at": merge.finished_at, "check": check})
    return sorted(landed, key=lambda m: m["finished_at"])


def issue(capsys, repo: Path, n: int) -> dict:
    return run_cli(capsys, "--repo", str(repo), "issue", "show", str(n), "--json").json()


# --- the whole-suite processes a cycle starts (``test_suite_once.py`` counts them) ---
SUITE = "python3 -m unittest -q"  # the demo's commands.test


def counting(monkeypatch: pytest.MonkeyPatch, failing: str = "", change: str = "") -> list[str]:
    """Every whole-suite process started (its command line: the sandbox's, naming the folder
    it runs in), counted as the process starts, beneath the harness; the first suite run in
    a folder whose name holds ``failing`` (and whose ``app.py`` holds ``change``) runs a real
    command that exits 1 instead."""
    real, failed, started = Sandbox.run, [], []

    def run(self: Sandbox, command: str, *, timeout_s: float | None = None) -> CommandResult:
        if failing and not failed and command == SUITE and failing in self.worktree.name:
            if change in (self.worktree / "app.py").read_text():
                failed.append(self.worktree.name)
                return real(self, "echo 'a flake'; exit 1", timeout_s=timeout_s)
        return real(self, command, timeout_s=timeout_s)

    class Started(subprocess.Popen):  # type: ignore[type-arg]
        def __init__(self, args: Any, *more: Any, **options: Any) -> None:
            super().__init__(args, *more, **options)
            if isinstance(args, list) and SUITE in args:
                started.append(" ".join(map(str, args)))

    monkeypatch.setattr(Sandbox, "run", run)
    monkeypatch.setattr(subprocess, "Popen", Started)
    return started


def looking(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The label of each check (``health``, ``baseline``, ``candidate``, …) every time it runs
    a group of hold-out journeys (an app and a browser each, standing in or not), in order."""
    from harness.validate import evidence

    real, looked = evidence._journey_check, []

    def journey(at: Any, number: int, group: list[Any]) -> tuple[int, list[JourneyResult]]:
        looked.append(at.label)
        return real(at, number, group)

    monkeypatch.setattr(evidence, "_journey_check", journey)
    return looked


def _stands_in(at: Any, issues: Collection[int] | None, checks: Collection[str] | None) -> bool:
    """Whether the check at ``at`` stands in: one of a validation of ``issues``, and one of
    ``checks`` (its label: ``health``, ``baseline``, ``candidate``, ``smoke``), where given."""
    return (issues is None or at.ctx.issue in issues) and (checks is None or at.label in checks)


def journeys_pass(
    monkeypatch: pytest.MonkeyPatch,
    issues: Collection[int] | None = None,
    checks: Collection[str] | None = None,
    learned: bool = True,
    journeys: bool = True,
) -> None:
    """Each hold-out journey of every check (health, calibration, candidate, smoke) stands in
    as passed, a browser for none (those of the validations of ``issues``, of the ``checks``
    named, alone, if given), and so does each replay of a learned check: for a test whose
    subject is another check, which runs for real beside them. The learned checks replay for
    real when ``learned`` is false, the journeys when ``journeys`` is. When every check stands
    in, no check takes a browser's driver: the test step starts none ahead for them
    (``evidence.drivers_ready``; ``tests/validate/test_cold_start.py`` starts them for real)."""
    from harness.browser.drivers import Drivers
    from harness.browser.journeys import Learned
    from harness.validate import evidence

    real = evidence._journey_check

    def journey(at: Any, number: int, group: list[Any]) -> tuple[int, list[JourneyResult]]:
        stands = learned if any(isinstance(c, Learned) for c in group) else journeys
        if not (stands and _stands_in(at, issues, checks)):
            return real(at, number, group)
        return 0, [JourneyResult(j.name, True, 1, final_text="the notes") for j in group]

    monkeypatch.setattr(evidence, "_journey_check", journey)
    if issues is None and checks is None and learned and journeys:
        monkeypatch.setattr(Drivers, "start", lambda self, count: None)


def suite_alone(
    monkeypatch: pytest.MonkeyPatch,
    issues: Collection[int] | None = None,
    checks: Collection[str] | None = None,
) -> None:
    """Each hold-out journey and each sealed validator of every check stands in as passed
    (``tests/checks_passed.py``; those of the validations of ``issues``, of the ``checks``
    named, alone, if given): for a test whose subject is the suite, which runs for real beside
    them (counted, reused, run again, its time limit hit) as the factory decides."""
    journeys_pass(monkeypatch, issues, checks)
    validators_pass(monkeypatch, issues, checks)


def validators_pass(
    monkeypatch: pytest.MonkeyPatch,
    issues: Collection[int] | None = None,
    checks: Collection[str] | None = None,
    score: float = 1.0,
) -> None:
    """Each sealed validator of every check stands in as passed (``passed_as_asked``, scored
    ``score``; those of the validations of ``issues``, of the ``checks`` named, alone, if
    given), a browser and a model for none: for a test that reads nothing of its verdict there
    but what a pass says, whose tests and journeys run for real beside it."""
    from harness.validate import evidence

    real = evidence._validator_check

    def validator(at: Any, question: ValidatorQuestion, earlier: Any) -> ValidatorRun:
        if not _stands_in(at, issues, checks):
            return real(at, question, earlier)
        passed = passed_as_asked(at, question, earlier)
        assert passed.output is not None
        return passed.model_copy(
            update={"output": passed.output.model_copy(update={"score": score})}
        )

    monkeypatch.setattr(evidence, "_validator_check", validator)


def validator_again(mp: pytest.MonkeyPatch, state: Path, number: int) -> ValidatorRun:
    """From now on, each sealed validator of ``number`` stands in with the verdict its first
    validation's real one gave (for the question it is asked), a seal and a browser for
    none: for a later attempt of which what is read is its route. That verdict is returned,
    for the caller to say what it must have been."""
    from harness.validate import evidence

    store = Store.open(state)
    (run,) = store.list_runs(limit=None, workflow="validate", issue=number)
    check = next(s.outputs for s in store.steps(run.id) if s.step_id == "check")
    store.close()
    given = ValidatorRun.model_validate(check["validator"])

    def again(at: Any, question: ValidatorQuestion, earlier: Any) -> ValidatorRun:
        assert at.ctx.issue == number
        return given.model_copy(update={"asked": question.digest()})

    mp.setattr(evidence, "_validator_check", again)
    return given


def checks_pass_before_the_smoke_run() -> None:
    """In a spawned ``factory`` (``spawn(..., before=...)``), for the rest of its life: the
    journeys of production's health, of the calibration and of the candidate, and the sealed
    validator, stand in as passed; the suites and the smoke run after a merge stay real."""
    suite_alone(pytest.MonkeyPatch(), checks=("health", "baseline", "candidate"))


def suites(started: list[str], store: Store, number: int) -> int:
    """How many whole-suite processes the runs of issue ``number`` started."""
    runs = [r.id for r in store.list_runs(limit=None, issue=number)]
    return sum(any(f"/{r}-" in argv for r in runs) for argv in started)


# --- scenarios several modules share (``tests/validate/scenarios.py``): each is played once per
# worker; the modules that read one are marked ``together`` so that one worker runs them ---


@pytest.fixture(scope="package")
def full_cycle(tmp_path_factory: pytest.TempPathFactory) -> FullCycle:
    from tests.validate.scenarios import play_full_cycle

    return play_full_cycle(tmp_path_factory.mktemp("full-cycle"))


@pytest.fixture(scope="package")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> Interrupted:
    from tests.validate.scenarios import play_interrupted

    return play_interrupted(tmp_path_factory.mktemp("interrupted"))


@pytest.fixture(scope="package")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Guarded:
    from tests.validate.scenarios import play_guarded

    return play_guarded(tmp_path_factory.mktemp("guarded"))


@pytest.fixture(scope="package")
def waiting(tmp_path_factory: pytest.TempPathFactory) -> Waiting:
    from tests.validate.scenarios import play_waiting

    return play_waiting(tmp_path_factory.mktemp("waiting"))
