"""Every browser that renders the app during a validation is confined like agent code, the
seal sees nothing of another process, and ``factory stop`` ends a running sealed validator
within one turn — through the real cycle: real bubblewrap, real Chromium, the real SDK
against the stand-in."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.browser import runner
from harness.model.base import Model, Request, Response
from harness.model.scripted import ScriptedModel, load_script
from harness.store.db import Store
from harness.validate.sealed import run_in_seal
from tests.browser.processes import ChromiumWatch
from tests.cli_helpers import run_cli
from tests.cli_helpers import spawn as factory
from tests.standins.anthropic_standin import AnthropicStandIn
from tests.validate.conftest import KEY, file_issues, role_of, script_rules
from tests.validate.test_validate import issue

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

GITHUB_CANARY = "ghp_CANARY0confinement0000000000000000"


class Watching:
    """The demo's scripted answers, with ``on_validator`` run as each request of the sealed
    validator arrives: its browser has the app open then (it opens the home page before
    its first turn), and the seal waits for the answer."""

    kind = "scripted"

    def __init__(self, inner: Model, on_validator: Callable[[int], None]) -> None:
        self.inner, self.on_validator, self.turns = inner, on_validator, 0

    def create(self, request: Request) -> Response:
        if role_of(request) == "validator":
            self.turns += 1
            self.on_validator(self.turns)
        return self.inner.create(request)


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness's secrets, as canaries (``FACTORY_MARKER_KEY`` is every test's)."""
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_CANARY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)


@contextmanager
def standin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_validator: Callable[[int], None]
) -> Iterator[tuple[AnthropicStandIn, Watching]]:
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump(script_rules()))
    responder = Watching(ScriptedModel(load_script(path)), on_validator)
    with AnthropicStandIn(responder=responder) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server, responder


def test_every_chromium_of_a_validation_is_confined(
    tmp_path: Path, capsys, app, planted, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _ = app
    watch = ChromiumWatch()
    real_step = runner.run_step

    def watched_step(page: Any, step: Any) -> None:
        real_step(page, step)
        watch.sample("journey")  # the journey's page is open on the app

    monkeypatch.setattr(runner, "run_step", watched_step)
    with standin(tmp_path, monkeypatch, lambda _: watch.sample("validator")):
        file_issues(capsys, repo, [1])
        res = run_cli(capsys, "--repo", str(repo), "run", "--once", "--json")
    assert res.code == 0, res.out
    assert "factory:merged" in issue(capsys, repo, 1)["labels"]  # a full cycle still merges
    checked = watch.assert_confined("journey", "validator")
    assert checked >= 2 * (len(watch.samples["journey"]) + len(watch.samples["validator"]))


def test_factory_stop_ends_a_running_sealed_validator_at_its_next_turn(
    tmp_path: Path, capsys, app, planted, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _ = app
    env = dict(os.environ)

    def stop_during_the_second_turn(turn: int) -> None:
        if turn == 2:  # the validator is running: its next request must be refused
            stopped = factory(repo, env, "stop", "--reason", "pulled during the validator")
            _, err = stopped.communicate(timeout=120)
            assert stopped.returncode == 0, err

    with standin(tmp_path, monkeypatch, stop_during_the_second_turn) as (server, watching):
        file_issues(capsys, repo, [1])
        res = run_cli(capsys, "--repo", str(repo), "run", "--once", "--json")
        validator_calls = [b for _, b in server.received if role_of(b) == "validator"]
        assert len(validator_calls) == 2, len(validator_calls)  # the third turn never came
        (row,) = res.json()["validate"]
        assert row["status"] == "stopped" and "stopped" in row["reason"], row
        store = Store.open(Path(os.environ["FACTORY_STATE_DIR"]))
        (run,) = store.list_runs(workflow="validate", issue=1)
        assert run.status == "stopped"
        check = [s for s in store.steps(run.id) if s.step_id == "check"]
        assert [s.status for s in check] == ["interrupted"]  # stopped: no crash, no pass
        assert check[0].error_kind == "killed"
        assert "factory:merged" not in issue(capsys, repo, 1)["labels"]

        assert run_cli(capsys, "--repo", str(repo), "resume").code == 0
        res = run_cli(capsys, "--repo", str(repo), "run", "--once", "--json")
    assert res.code == 0, res.err
    (again,) = store.list_runs(workflow="validate", issue=1)
    assert again.id == run.id and again.status == "succeeded"  # resumed, not started over
    assert "factory:merged" in issue(capsys, repo, 1)["labels"]
    assert watching.turns == 2 + 3  # the validator asked again from its first turn


PROBE = """
import json, os, sys
harness, targets, outside = int(sys.argv[1]), sys.argv[2:-1], sys.argv[-1]
seen = {"read": [], "procs": {}, "write": None}
for path in targets:
    try:
        open(path).read()
        seen["read"].append(path)
    except OSError:
        pass
for entry in os.listdir("/proc"):
    if entry.isdigit():
        info = {}
        for name in ("cmdline", "environ"):
            try:
                info[name] = open(f"/proc/{entry}/{name}", "rb").read().decode(errors="replace")
            except OSError as exc:
                info[name] = f"unreadable: {exc.errno}"
        seen["procs"][entry] = info
for name in ("environ", "cmdline", "root", "mem"):
    try:
        path = f"/proc/{harness}/{name}"
        seen[name] = os.listdir(path) if name == "root" else len(open(path, "rb").read(64))
    except OSError as exc:
        seen[name] = f"unreadable: {exc.errno}"
try:
    open(outside, "w").write("from the seal")
    seen["write"] = "written"
except OSError as exc:
    seen["write"] = f"refused: {exc.errno}"
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
seen["self"] = {k: status[k].split()[0] for k in ("Uid", "CapEff", "Seccomp", "NoNewPrivs")}
print(json.dumps(seen))
"""


def test_the_seal_reads_nothing_of_the_repository_or_of_another_process(
    tmp_path: Path, app, planted
) -> None:
    """The seal's exact view, with a probe for a command: no repository, state or hold-out,
    no process but its own, no host write, and nothing of the harness's secrets."""
    repo, holdout = app
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    (state / "secret.db").write_text("state")
    targets = [
        repo / "app.py",
        repo / "mission.md",
        state / "secret.db",
        holdout / "journeys" / "add_note.yaml",
        Path("/etc/hostname"),
    ]
    outside = tmp_path / "written-from-the-seal"
    command = [sys.executable, "-c", PROBE, str(os.getpid()), *map(str, targets), str(outside)]
    shots = tmp_path / "shots"
    done = run_in_seal(command, [repo, state, holdout], [shots], [], "", 60)
    seen = json.loads(done.stdout)
    assert seen["read"] == ["/etc/hostname"], seen["read"]
    assert seen["self"]["CapEff"] == "0000000000000000", seen["self"]
    assert seen["self"]["Seccomp"] == "2" and seen["self"]["NoNewPrivs"] == "1", seen["self"]
    assert seen["self"]["Uid"] != "0", seen["self"]
    assert seen["write"].startswith("refused") and not outside.exists()
    for name in ("environ", "cmdline", "root", "mem"):
        assert str(seen[name]).startswith("unreadable"), (name, seen[name])
    # only the seal's own processes exist for it: bubblewrap's init and the probe
    assert len(seen["procs"]) <= 2, seen["procs"]
    assert all("-c" in p["cmdline"] or "bwrap" in p["cmdline"] for p in seen["procs"].values())
    for pid, info in seen["procs"].items():
        for secret in (KEY, GITHUB_CANARY, os.environ["FACTORY_MARKER_KEY"]):
            assert secret not in info["environ"], (pid, info)
