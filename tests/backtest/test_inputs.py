"""Bad input to ``factory backtest`` is one line and exit 2, before anything is recorded; the
kill switch and the per-day budget stop it (exit 1) before any model is called."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.factory_repo import RULES, git, make_factory_repo
from tests.forge.shared_scenario import Output, isolated_env


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository of ``repo`` and the state folder whose forge holds its issue, made
    once for the module (each test works on copies)."""
    root = tmp_path_factory.mktemp("inputs")
    with isolated_env(root / "state"), Output() as output:
        path = make_factory_repo(root / "repo")
        res = run_cli(
            output,
            "--repo",
            str(path),
            "issue",
            "new",
            "--title",
            "Add a greeting",
            "--body",
            "Hi.",
        )
        assert res.code == 0, res.err
        (path / "greet.py").write_text("def greet():\n    return 'hi'\n")
        (path / "test_greet.py").write_text("from greet import greet\nassert greet() == 'hi'\n")
        git(path, "add", "-A")
        git(path, "commit", "-qm", "Add a greeting\n\nFixes #1")
        for branch, change in (
            (
                "broken-rules",
                lambda: (path / "factory_rules.md").write_text("---\nmax_changed_lines: -1\n---\n"),
            ),
            ("no-config", lambda: (path / "factory.yaml").unlink()),
        ):  # governance edits that would not load
            git(path, "checkout", "-q", "-b", branch)
            change()
            git(path, "commit", "-qam", branch)
            git(path, "checkout", "-q", "main")
    return root


@pytest.fixture
def repo(built: Path, tmp_path: Path) -> Path:
    """A repository whose history fixes issue 1, which the local forge holds: this test's
    copies of both (its state folder is ``tmp_path / "state"``)."""
    shutil.copytree(built / "repo", tmp_path / "repo", symlinks=True)
    shutil.copytree(built / "state", tmp_path / "state", symlinks=True)
    return tmp_path / "repo"


BROKEN = {
    "not YAML": "cases: [",
    "a list": "- id: a\n",
    "no cases": "repo: .\n",
    "empty cases": "cases: []\n",
    "unknown key": "cases: [{id: a, title: T, base: 'HEAD~1', fix: HEAD, colour: red}]\n",
    "a number for an id": "cases: [{id: 12, title: T, base: 'HEAD~1', fix: HEAD}]\n",
    "a bad id": "cases: [{id: 'a b/c', title: T, base: 'HEAD~1', fix: HEAD}]\n",
    "twice the same id": (
        "cases:\n  - {id: a, title: T, base: 'HEAD~1', fix: HEAD}\n"
        "  - {id: a, title: U, base: 'HEAD~1', fix: HEAD}\n"
    ),
    "no such commit": "cases: [{id: a, title: T, base: nope, fix: HEAD}]\n",
    "a base after its fix": "cases: [{id: a, title: T, base: HEAD, fix: 'HEAD~1'}]\n",
    "a base that is its fix": "cases: [{id: a, title: T, base: HEAD, fix: HEAD}]\n",
    "an option for a commit": "cases: [{id: a, title: T, base: '--all', fix: HEAD}]\n",
    "a test outside": "cases: [{id: a, title: T, base: 'HEAD~1', fix: HEAD, tests: [../x.py]}]\n",
    "a test in neither": "cases: [{id: a, title: T, base: 'HEAD~1', fix: HEAD, tests: [t.py]}]\n",
    "not a repository": "repo: /\ncases: [{id: a, title: T, base: 'HEAD~1', fix: HEAD}]\n",
    "a repository not there": "repo: ../gone\ncases: [{id: a, title: T, base: x, fix: y}]\n",
    "an unreachable URL": (
        "repo: file:///nonexistent/suite.git\ncases: [{id: a, title: T, base: x, fix: y}]\n"
    ),
    "credentials in a URL": (
        "repo: https://me:secret@example.invalid/r.git\ncases: [{id: a, title: T, base: x, fix: y}]\n"
    ),
    "not UTF-8": b"cases: [{id: \xff}]\n",
}


@pytest.mark.parametrize("shape", sorted(BROKEN))
def test_a_broken_manifest_is_one_line_and_exit_2(
    tmp_path: Path, capsys, repo: Path, shape: str
) -> None:
    manifest = tmp_path / "cases.yaml"
    text = BROKEN[shape]
    manifest.write_bytes(text if isinstance(text, bytes) else text.encode())
    res = run_cli(capsys, "--repo", str(repo), "backtest", "--manifest", str(manifest), "--json")
    assert res.code == 2, (shape, res.out, res.err)
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("factory: error: "), (shape, res.err)
    assert "Traceback" not in res.err and res.out == ""
    assert "secret" not in res.err
    assert Store.open(tmp_path / "state").latest_backtest() is None


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--manifest", "missing.yaml"], "no such file"),
        (["--governance", "no-such-rev"], "names no commit"),
        (["--governance", "--all"], "names no commit"),
        (["--governance", "broken-rules"], "factory_rules.md: max_changed_lines"),
        (["--governance", "no-config"], "factory.yaml: (file): missing (at no-config)"),
        (["--issue", "7"], "--issue 7"),
        (["--limit", "0"], "--limit"),
        (["--issue", "1", "--manifest", "cases.yaml"], "--issue"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    tmp_path: Path, capsys, repo: Path, args: list[str], said: str
) -> None:
    (tmp_path / "cases.yaml").write_text("cases: [{id: a, title: T, base: 'HEAD~1', fix: HEAD}]\n")
    args = [str(tmp_path / a) if a.endswith(".yaml") else a for a in args]
    res = run_cli(capsys, "--repo", str(repo), "backtest", *args)
    lines = res.err.strip().splitlines()
    assert res.code == 2 and len(lines) == 1 and said in lines[0], (args, res.err)
    assert Store.open(tmp_path / "state").latest_backtest() is None


def test_the_kill_switch_stops_a_backtest_before_it_starts(tmp_path: Path, capsys, repo) -> None:
    assert run_cli(capsys, "--repo", str(repo), "stop", "--reason", "maintenance").code == 0
    res = run_cli(capsys, "--repo", str(repo), "backtest", "--json")
    assert res.code == 1 and "stopped (maintenance)" in res.err, res.err
    assert len(res.err.strip().splitlines()) == 1


def test_the_day_budget_stops_a_case_before_any_model_call(tmp_path: Path, capsys) -> None:
    tight = RULES.replace("per_day_usd: 50.0", "per_day_usd: 0.5")  # a case may spend 2.0
    repo = make_factory_repo(tmp_path / "tight", rules=tight)
    run_cli(
        capsys, "--repo", str(repo), "issue", "new", "--title", "Add a greeting", "--body", "Hi."
    )
    (repo / "greet.py").write_text("X = 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Add a greeting (resolves #1)")
    res = run_cli(capsys, "--repo", str(repo), "backtest", "--json")
    assert res.code == 1, res.err
    out = res.json()
    assert "budget per_day_usd $0.50 would be exceeded" in out["stopped"]
    (row,) = out["cases"]
    assert row["status"] == "unfinished" and row["issue"] == 1 and row["cost_usd"] == 0
    store = Store.open(tmp_path / "state")
    record = store.latest_backtest()
    assert record is not None and record.status == "running"  # taken up again by a re-run
    assert store.spend() == 0


def test_factory_stop_reaches_a_rehearsals_own_runs(
    tmp_path: Path, capsys, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A case's runs check its scratch state's switch and the factory's: ``factory stop``
    pressed while a case is under way stops its next step (the scratch state itself is
    never stopped)."""
    from harness.backtest import rehearse as module
    from harness.engine.killswitch import engage_kill_switch

    triage_all = module.triage_all

    def pressed(services, *args, **kwargs):  # type: ignore[no-untyped-def]
        engage_kill_switch(services.outer_store, "pressed during a rehearsal")
        assert services.store.get_flag("stopped") is None
        return triage_all(services, *args, **kwargs)

    monkeypatch.setattr(module, "triage_all", pressed)
    res = run_cli(capsys, "--repo", str(repo), "backtest", "--json")
    assert res.code == 1, res.err
    assert "stopped (pressed during a rehearsal)" in res.json()["stopped"]


def test_the_backtest_settings_are_checked_like_every_other(tmp_path: Path, capsys) -> None:
    config = {"backtest": {"test_paths": ["/tests/**"], "counts_for_trust": "yes"}}
    repo = make_factory_repo(tmp_path / "checked", config=config)
    res = run_cli(capsys, "--repo", str(repo), "check", "--json")
    assert res.code == 2
    keys = {e["key"] for e in res.json()["errors"] if e["file"] == "factory.yaml"}
    assert keys == {"backtest.test_paths[0]", "backtest.counts_for_trust"}, res.out


def test_a_model_that_never_answers_makes_every_case_inconclusive(
    tmp_path: Path, capsys, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model's address mistyped (a port nothing listens on): no case produced a result,
    so none reads ``resolved: false``; each says why, and the backtest exits 1. With a model
    that answers, a case triage did not accept says so and is a result: exit 0."""
    import socket

    import yaml

    declined = run_cli(capsys, "--repo", str(repo), "backtest", "--json")  # the fallback
    assert declined.code == 0, declined.err
    (row,) = declined.json()["cases"]
    assert (row["triage"], row["resolved"], row["inconclusive"]) == ("needs_info", None, False)
    assert "stopped at triage (needs_info): nothing was attempted" in row["reason"], row

    config = yaml.safe_load((repo / "factory.yaml").read_text())
    config["provider"] = {"type": "anthropic", "max_retries": 0}
    (repo / "factory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "commit", "-qam", "a real model")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-mistyped-address-0000")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{port}")
    res = run_cli(capsys, "--repo", str(repo), "backtest", "--json")
    assert res.code == 1 and "no case produced a result" in res.err, res.err
    (row,) = res.json()["cases"]
    assert (row["status"], row["resolved"], row["inconclusive"]) == ("done", None, True), row
    assert "its triage run failed at step judge (model)" in row["reason"], row["reason"]
    assert "model API unreachable" in row["reason"], row["reason"]
    summary = res.json()["summary"]
    assert (summary["finished"], summary["inconclusive"], summary["unproven"]) == (1, 1, 0)
