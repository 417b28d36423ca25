"""Every browser that renders the app during a validation is confined like agent code, the
seal sees nothing of another process, and ``factory stop`` ends a running sealed validator
within one turn — through the real cycle: real bubblewrap, real Chromium, the real SDK
against the stand-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.sandbox.holding import SANDBOX_GID
from harness.sandbox.peers import Peers
from harness.store.db import Store
from harness.validate.sealed import run_in_seal
from tests.validate.conftest import KEY
from tests.validate.scenarios import GITHUB_CANARY, Interrupted

# the cycles of ``interrupted`` (a package fixture test_smoke_kill.py reads too): one worker
# plays them
pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(600),
    pytest.mark.together("validate-interrupted"),
]


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness's secrets, as canaries (``FACTORY_MARKER_KEY`` is every test's)."""
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_CANARY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)


def test_every_chromium_of_a_validation_is_confined(interrupted: Interrupted) -> None:
    again = interrupted.again
    assert again is not None and again.code == 0, again
    assert "factory:merged" in interrupted.merged  # a full cycle still merges
    watch = interrupted.watch
    checked = watch.assert_confined("journey", "validator")
    assert checked >= 2 * (len(watch.samples["journey"]) + len(watch.samples["validator"]))


def test_factory_stop_ends_a_running_sealed_validator_at_its_next_turn(
    interrupted: Interrupted,
) -> None:
    seen = interrupted
    assert seen.validator_calls == 2, seen.validator_calls  # the third turn never came
    (row,) = seen.first["validate"]
    assert row["status"] == "stopped" and "stopped" in row["reason"], row
    assert seen.status == "stopped"
    assert [status for status, _ in seen.checks] == ["interrupted"]  # stopped: no crash, no pass
    assert seen.checks[0][1] == "killed"
    assert "factory:merged" not in seen.labels

    assert seen.resumed == 0
    # the cycles after it (one killed inside the smoke run after the merge, one finishing it)
    again = seen.again
    assert again is not None and again.code == 0, again.err
    store = Store.open(seen.state)
    (run,) = store.list_runs(workflow="validate", issue=1)
    assert (run.id, run.status) == (seen.run, "succeeded")  # resumed, not started over
    store.close()
    assert "factory:merged" in seen.merged
    assert seen.turns == 2 + 3  # the validator asked again from its first turn


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
    done = run_in_seal(command, [repo, state, holdout], [shots], [], "", 60, Peers(), None)
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


@pytest.mark.skipif(os.geteuid() != 0, reason="strangers are other uids: needs root")
def test_a_stranger_at_the_seals_sockets_is_refused_and_in_the_runs_record(
    interrupted: Interrupted,
) -> None:
    """During the second cycle's validation three strangers knock on both of the seal's
    sockets (they know the names): another uid is denied by the socket's mode; the same uid
    past the mode and the seal's own uid outside the seal are refused by the peer check. A
    process of the seal's uid outside it can change neither the model socket's mode nor its
    owner (it stays the harness's: root, the seal's group, 0660), nor take its name: the
    folder is the harness's. The validation passes all the same and ``factory report`` lists
    each refusal."""
    seen = interrupted
    said, socket = seen.tampered
    assert said == ["chmod denied 1", "chown denied 1"], seen.tampered
    assert socket == (0, SANDBOX_GID, 0o660), seen.tampered
    assert seen.intruders == {
        "4242": ["denied", "denied"],
        "4242 past the folder": ["refused", "refused"],
        "65534": ["refused", "refused"],
    }, seen.intruders
    assert seen.impostor == "denied 13", seen.impostor  # the folder is the harness's: EACCES
    assert "factory:merged" in seen.merged
    refused = [line for line in seen.report.splitlines() if line.startswith("seal: REFUSED")]
    assert len(refused) == 4, seen.report
    for uid in ("4242", "65534"):
        for sock in ("model socket", "browser socket"):
            assert any(f"{sock}: uid {uid}," in line for line in refused), seen.report


READS = """
import os, sys
for path in sys.argv[1:]:
    try:
        os.listdir(path)
        print("read", path)
    except PermissionError:
        print("denied", path)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="another user is another uid: needs root")
def test_no_other_user_reads_a_worktree_a_copy_or_the_evidence(interrupted: Interrupted) -> None:
    """After the cycles: the folders of the worktrees, of their fresh copies and kept set-ups
    are mode 0700, and the evidence (screenshots) and transcripts are in the state folder,
    also 0700: another uid lists none of them."""
    from harness.git.worktrees import default_worktree_root
    from harness.sandbox.policy import fresh_root

    state = interrupted.state
    roots = [state, default_worktree_root(state), fresh_root(state)]
    assert [oct(p.stat().st_mode & 0o777) for p in roots] == ["0o700"] * 3
    evidence = [p for kind in ("evidence", "transcripts") for p in (state / kind).iterdir()]
    assert evidence  # the run's screenshots and transcripts
    command = ["setpriv", "--reuid=4242", "--regid=4242", "--clear-groups", "/usr/bin/python3"]
    folders = [*map(str, roots), *map(str, evidence)]
    done = subprocess.run([*command, "-c", READS, *folders], capture_output=True, text=True)
    assert done.stdout.split("\n")[:-1] == [f"denied {p}" for p in folders], done
