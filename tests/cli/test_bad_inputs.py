"""Every bad input ends as one precise line on stderr and exit 2: no traceback, no
``internal error``, and the state left exactly as it was.

The cases are what a hostile or careless user gives the command line: bytes that are not
UTF-8 (Python keeps them as lone surrogates, exactly as it does for a real ``argv``), numbers
past SQLite's 64 bits, ``nan``, control characters in one-line text, and state folders or
databases that are read-only, missing, a file, empty, truncated, garbage or from a newer
schema."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.store.db import Store
from tests.cli_helpers import run_cli, spawn
from tests.factory_repo import make_factory_repo
from tests.forge.shared_scenario import isolated_env

BIG = str(2**70)
LONG = "a" * 5000
Setup = Callable[[Path], None]


def _nothing(state: Path) -> None:
    return None


def _empty_db(state: Path) -> None:
    (state / "state.db").write_bytes(b"")


def _garbage_db(state: Path) -> None:
    (state / "state.db").write_bytes(bytes(range(256)) * 20)


def _text_db(state: Path) -> None:
    (state / "state.db").write_text("this is not a database\n")


def _truncated_db(state: Path) -> None:
    db = state / "state.db"
    _checkpoint(db)
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 4])


def _damaged_page(state: Path) -> None:
    db = state / "state.db"
    _checkpoint(db)
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for at in range(page, len(data), page):  # every page after the first: the tables' b-trees
        data[at : at + 16] = b"\xde\xad\xbe\xef" * 4
    db.write_bytes(bytes(data))


def _newer_schema(state: Path) -> None:
    with contextlib.closing(sqlite3.connect(state / "state.db")) as conn, conn:
        conn.execute("INSERT INTO migrations VALUES ('m999_from_the_future', '2030-01-01')")
    _checkpoint(state / "state.db")


def _db_is_folder(state: Path) -> None:
    (state / "state.db").unlink()
    (state / "state.db").mkdir()


def _checkpoint(db: Path) -> None:
    """Fold the WAL into the file, so the file alone is the state (as after a clean exit)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@dataclass
class Case:
    name: str
    args: tuple[str, ...]
    says: str  # a piece of the one line
    stdin: bytes | None = None
    state: Setup = _nothing
    env: dict[str, str] = field(default_factory=dict)


CASES = [
    # text that is not UTF-8, in every kind of argument
    Case("title-bytes", ("issue", "new", "--title", "a\udcff"), "--title: not UTF-8"),
    Case("body-bytes", ("issue", "new", "--title", "t", "--body", "b\udcfe"), "--body: not UTF-8"),
    Case("author-bytes", ("issue", "new", "--title", "t", "--author", "x\udcff"), "--author"),
    Case("title-equals-bytes", ("issue", "new", "--title=\udcc3"), "--title: not UTF-8"),
    Case(
        "body-stdin-bytes",
        ("issue", "new", "--title", "t", "--body", "-"),
        "standard input",
        stdin=b"\xff\xfe not text",
    ),
    Case("edit-title-bytes", ("issue", "edit", "1", "--title", "a\udcff"), "--title: not UTF-8"),
    Case(
        "edit-body-stdin-bytes",
        ("issue", "edit", "1", "--body", "-"),
        "standard input",
        stdin=b"caf\xe9",
    ),
    # an issue's title and body: one rule for a new issue and an edited one
    Case("title-empty", ("issue", "new", "--title", " "), "--title: must not be empty"),
    Case("edit-title-empty", ("issue", "edit", "1", "--title", " "), "--title: must not be empty"),
    Case("title-1001", ("issue", "new", "--title", "x" * 1001), "at most 1000 characters"),
    Case("edit-title-1001", ("issue", "edit", "1", "--title", "x" * 1001), "at most 1000"),
    Case("edit-title-newline", ("issue", "edit", "1", "--title", "a\nb"), "must be one line"),
    Case("edit-body-10MiB", ("issue", "edit", "1", "--body", "x" * (10 * 2**20 + 1)), "allowed"),
    Case("label-bytes", ("issue", "label", "1", "\udcff"), "not UTF-8"),
    Case("report-bytes", ("report", "\udcff"), "not UTF-8"),
    Case("reason-bytes", ("stop", "--reason", "\udcff"), "--reason: not UTF-8"),
    Case("repo-bytes", ("--repo", "/tmp/\udcff", "status"), "--repo: not UTF-8"),
    Case("plan-bytes", ("--plan", "/tmp/\udcff", "status"), "--plan: not UTF-8"),
    # one-line text with control characters a terminal would act on
    Case("title-ansi", ("issue", "new", "--title", "a\x1b[8mhidden"), "U+001B"),
    Case("title-carriage-return", ("issue", "new", "--title", "a\rb"), "U+000D"),
    Case("reason-escape", ("stop", "--reason", "x\x1b]0;title\x07"), "--reason: control"),
    # a login (an issue's author, as a decision's actor): one word of printable characters
    Case("author-two-words", ("issue", "new", "--title", "t", "--author", "a b"), "--author: one"),
    Case("author-bidi", ("issue", "new", "--title", "t", "--author", "a\u202eb"), "--author: one"),
    # numbers SQLite cannot hold, or that mean nothing
    Case("show-2**70", ("issue", "show", BIG), "'NUMBER'"),
    Case("edit-2**70", ("issue", "edit", BIG, "--title", "x"), "'NUMBER'"),
    Case("label-2**70", ("issue", "label", BIG, "x"), "'NUMBER'"),
    Case("implement-2**70", ("implement", BIG), "'NUMBER'"),
    Case("validate-2**70", ("validate", BIG), "'NUMBER'"),
    Case("retry-2**70", ("retry", BIG), "'NUMBER'"),
    Case("triage-2**70", ("triage", "--issue", BIG), "'--issue'"),
    Case("triage-missing-issue", ("triage", "--issue", "99"), "issue 99 does not exist"),
    Case("show-zero", ("issue", "show", "0"), "'NUMBER'"),
    Case("runs-limit-2**70", ("runs", "--limit", BIG), "'--limit'"),
    Case("runs-limit-negative", ("runs", "--limit", "-1"), "'--limit'"),
    Case("batch-wait-nan", ("triage", "--batch", "--batch-wait", "nan"), "not a finite number"),
    Case("batch-wait-inf", ("triage", "--batch", "--batch-wait", "inf"), "'--batch-wait'"),
    Case("interval-2**70", ("run", "--interval", BIG), "'--interval'"),
    Case("max-parallel-zero", ("run", "--max-parallel", "0"), "'--max-parallel'"),
    Case("revert-short-sha", ("health", "--revert", "9475acb2faa2"), "the full SHA heal blamed"),
    Case("revert-5000", ("health", "--revert", LONG), f"not '{'a' * 60}'"),
    # paths the system cannot take: named, shown shortened, never looked up
    Case("repo-5000", ("--repo", LONG, "status"), "'--repo': 'aaaa"),
    Case("repo-5000-absolute", ("--repo", "/tmp/" + LONG, "check"), "5,005 bytes"),
    Case("repo-deep", ("--repo", "/".join(["abcdefgh"] * 600), "check"), "as a full path"),
    Case("repo-long-name", ("--repo", f"/tmp/{'b' * 300}/x", "status"), "longer than 255"),
    Case("repo-newline", ("--repo", "/tmp/a\nb", "status"), "'--repo': control character"),
    Case("plan-5000", ("--plan", LONG, "status"), "'--plan'"),
    Case("apply-5000", ("apply", LONG), "'PLAN_DIR'"),
    Case("demo-dir-5000", ("demo", "--dir", LONG), "'--dir'"),
    Case("state-dir-5000", ("status",), "FACTORY_STATE_DIR: ", env={"FACTORY_STATE_DIR": LONG}),
    Case("holdout-5000", ("check",), "FACTORY_HOLDOUT: ", env={"FACTORY_HOLDOUT": "/x/" + LONG}),
    # any other value given at any length is echoed back shortened
    Case("report-5000", ("report", LONG), "does not exist"),
    Case("package-5000", ("init", "--ci", "github-actions", "--package", LONG), "not pinned"),
    # a state that cannot be used: left byte for byte as it was
    Case("state-0-bytes", ("status",), "corrupt (0 bytes", state=_empty_db),
    Case("state-garbage", ("issue", "list"), "corrupt (not an SQLite database)", state=_garbage_db),
    Case("state-text", ("runs",), "corrupt (not an SQLite database)", state=_text_db),
    Case("state-truncated", ("status",), "corrupt (truncated", state=_truncated_db),
    Case("state-damaged-page", ("runs",), "corrupt (", state=_damaged_page),
    Case(
        "state-newer-schema", ("issue", "list"), "newer version of the factory", state=_newer_schema
    ),
    Case("state-db-is-folder", ("status",), "is a folder", state=_db_is_folder),
]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository and state every test starts from a copy of (made once: a new store's
    migrations and a repository's git processes cost more than the command a test runs)."""
    root = tmp_path_factory.mktemp("bad-inputs")
    with isolated_env(root / "state"):
        make_factory_repo(root / "repo")
        store = Store.open(root / "state")
        store.insert_issue("one", "", "owner")
        store.close()
    return root


@pytest.fixture
def repo(made: Path, tmp_path: Path) -> Path:
    """A factory repository with issue 1 in a state no connection holds open any more."""
    shutil.copytree(made / "state", Path(os.environ["FACTORY_STATE_DIR"]))
    return shutil.copytree(made / "repo", tmp_path / "repo", symlinks=True)


def _snapshot(state: Path) -> dict[str, bytes | None]:
    return {p.name: (p.read_bytes() if p.is_file() else None) for p in sorted(state.iterdir())}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_and_exit_2(
    case: Case, repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state = Path(os.environ["FACTORY_STATE_DIR"])
    case.state(state)
    before = _snapshot(state)
    if case.stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(case.stdin)))
    with monkeypatch.context() as env:
        for name, value in case.env.items():
            env.setenv(name, value)
        result = run_cli(capsys, "--repo", str(repo), *case.args)
    lines = result.err.splitlines()
    assert result.code == 2, result.err
    assert len(lines) == 1, result.err
    assert lines[0].startswith("factory: error: ")
    assert case.says in lines[0]
    assert "internal error" not in result.err and "Traceback" not in result.err
    assert len(lines[0]) < 800  # what was given is shown shortened
    after = _snapshot(state)
    if case.state is not _nothing:  # the unusable state is left exactly as it was
        assert after == before
    else:  # nothing was written: the one issue is still the only one, unchanged
        listed = run_cli(capsys, "--repo", str(repo), "issue", "list", "--json").json()
        assert [(i["number"], i["title"]) for i in listed] == [(1, "one")]


def test_corrupt_state_points_to_the_backup_taken_before_each_run(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = Path(os.environ["FACTORY_STATE_DIR"])
    # a process of its own (forked: the harness imported once), whose connections end with it
    ran = spawn(repo, dict(os.environ), "run", "--once", "--json")
    assert ran.wait(timeout=240) in (0, 1), ran.said()[1]
    backup = state / "state.db.backup"
    assert backup.is_file()
    (state / "state.db").write_bytes(b"")
    for name in ("state.db-wal", "state.db-shm"):
        (state / name).unlink(missing_ok=True)
    result = run_cli(capsys, "--repo", str(repo), "status")
    assert result.code == 2 and len(result.err.splitlines()) == 1
    assert f"restore the copy taken before the last run ({backup})" in result.err
    assert (state / "state.db").read_bytes() == b""  # never recreated empty
    shutil.copy(backup, state / "state.db")  # the advice works: the issue is back
    listed = run_cli(capsys, "--repo", str(repo), "issue", "list", "--json")
    assert listed.code == 0, listed.err
    assert [i["number"] for i in listed.json()] == [1], listed.err


def test_doctor_reports_a_corrupt_state(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.store.health import state_health

    state = Path(os.environ["FACTORY_STATE_DIR"])
    assert state_health(state).ok
    _truncated_db(state)
    health = state_health(state)
    assert not health.ok and "truncated" in health.detail


def _bwrap_works() -> bool:
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return False
    probe = subprocess.run(
        [bwrap, "--dev-bind", "/", "/", "true"], capture_output=True, check=False
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _bwrap_works(), reason="needs bubblewrap for a read-only mount")
@pytest.mark.parametrize("where", ["existing", "missing"])
def test_read_only_state_folder_is_one_line(repo: Path, where: str) -> None:
    """A really read-only folder (a read-only bind mount: even root cannot write there)."""
    state = Path(os.environ["FACTORY_STATE_DIR"])
    before = _snapshot(state)
    target = state if where == "existing" else state / "missing"
    env = {**os.environ, "FACTORY_STATE_DIR": str(target)}
    bwrap = shutil.which("bwrap") or "bwrap"
    done = subprocess.run(
        [
            bwrap,
            "--dev-bind",
            "/",
            "/",
            "--ro-bind",
            str(state),
            str(state),
            sys.executable,
            "-m",
            "harness",
            "--repo",
            str(repo),
            "issue",
            "list",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = done.stderr.splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert ("read-only" if where == "existing" else "cannot be created") in lines[0]
    assert "internal error" not in done.stderr
    assert _snapshot(state) == before


def test_state_folder_that_is_a_file(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    for target, says in ((a_file, "is a file"), (a_file / "state", "cannot be created")):
        monkeypatch.setenv("FACTORY_STATE_DIR", str(target))
        result = run_cli(capsys, "--repo", str(repo), "status")
        assert result.code == 2 and len(result.err.splitlines()) == 1, result.err
        assert says in result.err
    assert a_file.read_text() == "x"


def test_real_argv_bytes_through_the_console_script(repo: Path) -> None:
    """The same refusal with real bytes in a real argv (not a surrogate built by hand)."""
    done = subprocess.run(
        [
            sys.executable.encode(),
            b"-m",
            b"harness",
            b"--repo",
            str(repo).encode(),
            b"issue",
            b"new",
            b"--title",
            b"caf\xe9",
        ],
        capture_output=True,
        check=False,
        env=os.environ.copy(),
    )
    err = done.stderr.decode()
    assert done.returncode == 2 and err.count("\n") == 1, err
    assert "--title: not UTF-8 text (byte 0xe9 at position 4)" in err


def test_the_current_folder_is_a_repository_option(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--repo .`` (a path with no name in it) is the folder it is run in, not a crash."""
    monkeypatch.chdir(repo)
    result = run_cli(capsys, "--repo", ".", "status", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["stopped"] is False, result.out
