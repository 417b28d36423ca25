"""``factory doctor`` on a maintainer's fresh Python repository: init, commit, doctor.

The generated ``setup`` installs from PyPI (``pip install -e . pytest``), and tests send no
traffic off this machine. So the one other edit the test makes is an offline ``setup``
with the same effect: a virtualenv in the worktree holding pytest, copied from the
environment running these tests. ``test`` is the line ``factory init`` wrote, unchanged.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest as _pytest_module

from harness.browser import runner
from harness.git.repo import GitRepo
from harness.git.worktrees import WorktreeManager
from harness.validate import sealed
from tests.browser.processes import ChromiumWatch
from tests.cli_helpers import Result, run_cli, spawn
from tests.conftest import git
from tests.factory_repo import make_factory_repo
from tests.forge.shared_scenario import Output, isolated_env

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

SITE = Path(_pytest_module.__file__).resolve().parents[1]
VENDORED = ("pytest", "_pytest", "pluggy", "iniconfig", "packaging", "pygments", "py.py")
# The generated setup installs from PyPI; tests stay offline, so the repository carries the
# test runner's packages (committed under .offline/) and setup copies them into the venv.
OFFLINE_SETUP = (
    "python3 -m venv --without-pip .venv && cp -r .offline/* "
    f".venv/lib/python3.{sys.version_info.minor}/site-packages/"
)


def _vendor(repo: Path) -> None:
    target = repo / ".offline"
    target.mkdir()
    for name in VENDORED:
        source = SITE / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)


APP = '''"""A tiny notes page."""
import argparse
from http.server import BaseHTTPRequestHandler, HTTPServer


def page() -> bytes:
    return b"<html><body><h1>Notes</h1></body></html>"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(page())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    HTTPServer(("127.0.0.1", parser.parse_args().port), Handler).serve_forever()
'''


def _edit(repo: Path, pattern: str, replacement: str) -> None:
    config = repo / "factory.yaml"
    text, count = re.subn(pattern, replacement, config.read_text(), flags=re.M)
    assert count == 1, pattern
    config.write_text(text)


def initialised(root: Path, capsys) -> Path:
    """A maintainer's fresh Python repository under ``root``, after ``factory init``."""
    repo = root / "notes"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "pyproject.toml").write_text('[project]\nname = "notes"\nversion = "0.1.0"\n')
    (repo / "notes.py").write_text(APP)
    (repo / "test_notes.py").write_text(
        "from notes import page\n\n\ndef test_page():\n    assert b'Notes' in page()\n"
    )
    res = run_cli(capsys, "--repo", str(repo), "init")
    assert res.code == 0, res.err
    assert "Python (pyproject.toml)" in res.out
    starter = root / "notes-holdout" / "journeys" / "home.yaml"
    assert "wrote " + str(starter) in res.out  # init wrote a first hold-out journey
    assert "goto: /" in starter.read_text()  # doctor runs it unedited
    return repo


@pytest.fixture
def python_repo(tmp_path: Path, capsys) -> Path:
    return initialised(tmp_path, capsys)


def _commit(repo: Path) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "factory")


def _runnable(repo: Path) -> None:
    """``start`` set, the offline ``setup``, the test runner vendored, all committed."""
    _edit(repo, r"^  # start: .*$", '  start: ".venv/bin/python notes.py --port {port}"')
    _edit(repo, r"^  setup: .*$", f"  setup: {OFFLINE_SETUP!r}".replace("'", '"'))
    _vendor(repo)
    _commit(repo)


def test_init_commit_doctor_passes_and_a_broken_start_fails(watched: Watched) -> None:
    """What ``factory init`` wrote, made runnable and committed: doctor passes every check,
    the starter journey unedited among them; then a start that exits fails with its output,
    and a seal whose interpreter cannot import the harness fails in one line naming it."""
    written = watched.written
    assert 'test: ".venv/bin/python -m pytest -q"' in written
    assert "python -m" not in written.replace(".venv/bin/python -m", "")  # never bare python

    res = watched.doctor
    assert res.code == 0, res.out + res.err
    data = res.json()
    names = [c["name"] for c in data["checks"]]
    journeys = ["journey: add a note", "journey: starts empty", "journey: home"]
    assert names == ["sandbox", "seal", "setup", "test", "start", *journeys]
    assert "CapEff 0000000000000000" in data["checks"][0]["detail"]
    assert all(c["passed"] and c["seconds"] >= 0 for c in data["checks"]), data["checks"]
    assert "1 passed" in data["checks"][3]["output"]
    provider = data["provider"]  # the key planted as a canary is what it reads
    assert provider == {"provider": "anthropic", "ready": True, "detail": provider["detail"]}
    assert "ANTHROPIC_API_KEY is set" in provider["detail"]

    res = watched.broken
    assert res.code == 1, res.out + res.err
    assert re.search(r"^PASS  test ", res.out, re.M), res.out
    (start,) = [line for line in res.out.splitlines() if line.startswith("FAIL  start")]
    assert "exited with 2 before it was ready" in start and "\\n" not in start
    assert "usage: notes.py [-h] --port PORT" in res.out, res.out  # its own output is shown
    assert "notes.py --prot" in start  # the command that failed
    # the seal's interpreter cannot import the harness: named in one line, what to do too
    (seal,) = [line for line in res.out.splitlines() if line.startswith("FAIL  seal")]
    assert "the sealed validator did not start (exit 1; " in seal, seal
    assert "No module named 'harness'" in seal and "make install" in seal, seal
    (model,) = [line for line in res.out.splitlines() if line.startswith("model: ")]
    assert model.startswith("model: scripted — NOT READY: ") and "ANTHROPIC_API_KEY" in model


def test_every_chromium_of_doctor_is_confined(watched: Watched) -> None:
    """Sampled after each journey step, while doctor's browser has the app open: every
    Chromium process is unprivileged, filtered, in a PID namespace of its own, and holds
    none of the harness's secrets (planted as canaries)."""
    res = watched.doctor
    assert res.code == 0, res.out + res.err
    assert watched.watch.assert_confined("doctor") >= 2


def test_doctor_on_a_broken_config_exits_2(python_repo: Path, capsys) -> None:
    res = run_cli(capsys, "--repo", str(python_repo), "doctor")  # nothing committed yet
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1, res.err
    _edit(python_repo, r"^  # start: .*$", '  start: ".venv/bin/python notes.py --port {}"')
    _commit(python_repo)
    res = run_cli(capsys, "--repo", str(python_repo), "doctor")
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1, res.err
    assert "commands.start: {} is not a placeholder" in res.err, res.err


def test_doctor_says_first_that_the_working_copy_is_invalid_or_the_browser_missing(
    python_repo: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``factory check`` refuses in the working copy, and a missing Chromium, are said
    in one line before anything runs (no check is printed), not after setup and tests."""
    _commit(python_repo)  # valid; start not set yet
    _edit(python_repo, r"^  # start: .*$", '  start: ".venv/bin/python notes.py --port {}"')
    res = run_cli(capsys, "--repo", str(python_repo), "doctor")
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1 and not res.out, res.err
    assert (
        "commands.start: {} is not a placeholder" in res.err and "(in the working copy" in res.err
    )
    git(python_repo, "checkout", "factory.yaml")
    monkeypatch.setenv("FACTORY_CHROMIUM", str(python_repo / "no-chromium"))
    res = run_cli(capsys, "--repo", str(python_repo), "doctor")
    assert res.code == 1 and len(res.err.strip().splitlines()) == 1 and not res.out, res.err
    assert "FACTORY_CHROMIUM=" in res.err and "not an executable file" in res.err


NOTES_APP = '''"""Notes kept in a file beside the app: what one journey adds, the next would see."""
import argparse
import html
import json
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs

KEPT = Path("notes.json")


def notes() -> list:
    return json.loads(KEPT.read_text()) if KEPT.exists() else []


def page() -> bytes:
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes())
    return (
        f"<html><body><h1>Notes</h1><p>{len(notes())} notes</p><ul>{items}</ul>"
        '<form method="post"><label>Note <input name="note"></label>'
        "<button>Add</button></form></body></html>"
    ).encode()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(page())

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        KEPT.write_text(json.dumps([*notes(), parse_qs(body)["note"][0]]))
        self.send_response(303)
        self.send_header("Location", "/")
        self.end_headers()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    HTTPServer(("127.0.0.1", parser.parse_args().port), Handler).serve_forever()
'''


@dataclass(frozen=True)
class Watched:
    written: str  # factory.yaml as factory init wrote it
    doctor: Result  # doctor --json
    watch: ChromiumWatch  # sampled after each journey step
    journeys: Result  # then doctor --journeys --json, the starter journey removed
    one: Result  # then doctor --journey "counts wrong", a journey added that fails
    broken: Result  # then doctor, its start changed to one that exits, no API key set, and
    # the seal's interpreter unable to import the harness


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watched]:
    """``factory doctor --json`` once, for the tests that read it: on a fresh repository made
    runnable whose notes are kept in a file beside the app, with two journeys before the
    starter — the first adds a note, the second expects an empty list —, the harness's
    secrets planted as canaries, and every Chromium process sampled after each step; then,
    the starter removed, the journeys alone, one journey, and a doctor whose start exits."""
    root = tmp_path_factory.mktemp("doctor")
    canaries = {
        "ANTHROPIC_API_KEY": "sk-ant-doctor-CANARY-5e1f00d",
        "GITHUB_TOKEN": "ghp_doctorCANARY00000000000000000000000",
    }
    watch = ChromiumWatch()
    real_step = runner.run_step

    def watched_step(page, step) -> None:
        real_step(page, step)
        watch.sample("doctor")

    with isolated_env(root / "state", **canaries) as mp, Output() as output:
        mp.setattr(runner, "run_step", watched_step)
        repo = initialised(root, output)
        written = (repo / "factory.yaml").read_text()
        (repo / "notes.py").write_text(NOTES_APP)
        _runnable(repo)
        journeys = root / "notes-holdout" / "journeys"
        (journeys / "a_add.yaml").write_text(
            "name: add a note\nsteps:\n  - goto: /\n"
            '  - fill: {label: "Note", value: "Buy milk"}\n'
            '  - click: {role: button, name: "Add"}\n'
            '  - expect_text: "Buy milk"\n  - expect_text: "1 notes"\n'
        )
        (journeys / "b_empty.yaml").write_text(
            'name: starts empty\nsteps:\n  - goto: /\n  - expect_text: "0 notes"\n'
        )
        res = run_cli(output, "--repo", str(repo), "doctor", "--json")
        (journeys / "home.yaml").unlink()  # the starter ran once, unedited
        again = run_cli(output, "--repo", str(repo), "doctor", "--journeys", "--json")
        (journeys / "c_wrong.yaml").write_text(
            'name: counts wrong\nsteps:\n  - goto: /\n  - expect_text: "7 notes"\n'
        )
        one = run_cli(output, "--repo", str(repo), "doctor", "--journey", "counts wrong")
        _edit(repo, r"^  start: .*$", '  start: ".venv/bin/python notes.py --prot {port}"')
        _commit(repo)
        mp.delenv("ANTHROPIC_API_KEY")  # the model doctor reports, offline
        # the seal's interpreter as a stale environment has it: the interpreter behind the
        # harness's virtualenv, without the harness (the seal's view holds it)
        bare = (str(Path(sys.base_prefix) / "bin" / "python3"), *sealed.SEAL_COMMAND[1:])
        mp.setattr(sealed, "SEAL_COMMAND", bare)
        broken = run_cli(output, "--repo", str(repo), "doctor")
    yield Watched(written, res, watch, again, one, broken)


def test_each_journey_gets_a_fresh_app(watched: Watched) -> None:
    """The first journey adds a note (kept in a file beside the app); the second expects an
    empty list: both pass, because each journey starts from a fresh copy of production, as
    in a validation."""
    res = watched.doctor
    checks = {c["name"]: c for c in res.json()["checks"]}
    assert checks["journey: add a note"]["passed"], checks
    assert checks["journey: starts empty"]["passed"], checks
    assert res.code == 0, res.out + res.err


def test_doctor_journeys_runs_the_journeys_alone_on_the_set_up_kept(watched: Watched) -> None:
    """``--journeys`` after a doctor, nothing changed since: no set-up runs (the one the
    doctor made is copied in), no tests, only the journeys, and it exits with their result;
    ``--journey NAME`` runs that one, and its failure shows the step, the page text and the
    screenshot as a whole doctor does."""
    res = watched.journeys
    assert res.code == 0, res.out + res.err
    checks = res.json()["checks"]
    assert [c["name"] for c in checks] == ["journey: add a note", "journey: starts empty"]
    assert all(c["passed"] for c in checks), checks
    one = watched.one
    assert one.code == 1, one.out + one.err
    (line,) = [line for line in one.out.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert line.startswith("FAIL  journey: counts wrong"), one.out
    assert "step 2 (expect_text 7 notes)" in line and "0 notes" in line, line
    shot = re.search(r"screenshot (\S+\.png)", line)
    assert shot and Path(shot.group(1)).is_file(), line


def test_doctor_journey_names_a_journey_it_does_not_know(python_repo: Path, capsys) -> None:
    _edit(python_repo, r"^  # start: .*$", '  start: "python3 notes.py --port {port}"')
    _edit(python_repo, r"^  setup: .*$", '  setup: "true"')  # what it sets up is not at issue
    _commit(python_repo)
    res = run_cli(capsys, "--repo", str(python_repo), "doctor", "--journey", "nope")
    assert res.code == 2 and "--journey 'nope': no such journey (home)" in res.err, res.err


def test_a_killed_doctor_leaves_no_worktree_once_the_next_command_ran(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kill -9`` while doctor holds its worktree: the next ``factory prune`` (which
    ``factory run`` runs first) removes it, folder and git's record; never a live doctor's."""
    repo = make_factory_repo(tmp_path / "notes")
    state = tmp_path / "state"
    monkeypatch.setenv("FACTORY_STATE_DIR", str(state))
    manager = WorktreeManager.of(GitRepo(repo), state)
    killed = spawn(repo, {**os.environ, "FACTORY_FAULT_AT": "doctor.worktree.made"}, "doctor")
    assert killed.wait(120) == -9, killed.communicate()
    (left,) = manager.list()
    mine = manager.create_owned("main", "doctor-live")  # as a doctor running now holds one
    res = run_cli(capsys, "--repo", str(repo), "prune")
    assert res.code == 0 and "leftover worktree folder(s) removed" in res.out, res.out + res.err
    assert manager.list() == [mine] and not left.exists()
    assert git(repo, "worktree", "list").count("\n") == 2  # the main checkout and mine
    manager.remove(mine)


def test_what_a_test_prints_reaches_the_terminal_escaped(tmp_path: Path, capsys) -> None:
    """A failing test's output is the repository's text: clear screen, a clipboard write
    (OSC 52) and a right-to-left override are shown escaped, each visibly, never acted on."""
    printed = r"printf 'a\033[2Jb \033]52;c;aGk=\007 \342\200\256evil\n'; exit 1"
    repo = make_factory_repo(tmp_path / "app", config={"commands": {"test": printed}})
    res = run_cli(capsys, "--repo", str(repo), "doctor")
    assert res.code == 1, res.out + res.err
    assert "a\\x1b[2Jb \\x1b]52;c;aGk=\\x07 \\u202eevil" in res.out, res.out
    assert not {"\x1b", "\x07", "\u202e"} & set(res.out)
