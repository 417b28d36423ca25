"""Secrets are redacted as the store writes them: ``factory report`` and the dashboard show
the same text for the same failure, and the file itself holds no secret."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from harness.reports.report import run_page
from harness.services import open_services
from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.factory_repo import make_factory_repo
from tests.store_reads import verify_chain

PLANTED = "planted-token-value-0123456789-abcdef"  # the harness's own, not credential-shaped
GITHUB = "ghp_" + "A1b2C3d4E5" * 3 + "F6g7H8"
ANTHROPIC = "sk-ant-api03-" + "x" * 40


def test_one_failure_reads_the_same_redacted_everywhere(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", PLANTED)
    repo = make_factory_repo(tmp_path / "notes")
    state = tmp_path / "state"
    leak = f"setup printed {GITHUB}, then {ANTHROPIC} and {PLANTED} (tail {PLANTED[-20:]})"
    with closing(Store.open(state)) as store:
        run = store.create_run("implement", 1, {"why": leak}, {})
        seq = store.start_step(run.id, "test", {"command": leak})
        store.finish_step(seq, "failed", {"output": leak}, error=f"tests failed: {leak}")
        store.set_run_status(run.id, "failed", reason=leak)
        store.append_event(run.id, "step.failed", {"said": leak})

    raw = b"".join(p.read_bytes() for p in state.iterdir() if p.name.startswith("state.db"))
    for secret in (GITHUB, ANTHROPIC, PLANTED, PLANTED[-20:]):
        assert secret.encode() not in raw, secret

    res = run_cli(capsys, "--repo", str(repo), "report", run.id, "--json")
    reported = res.json()
    (step,) = reported["steps"]
    assert (
        "[redacted GitHub token]" in step["error"] and "[redacted Anthropic key]" in step["error"]
    )
    assert "[redacted]" in step["error"] and PLANTED not in step["error"]
    plain = run_cli(capsys, "--repo", str(repo), "report", run.id).out
    assert step["error"] in plain and reported["reason"] in plain

    monkeypatch.delenv("GITHUB_TOKEN")  # the dashboard's process need not know the secret
    services = open_services(repo, state)
    try:
        page = run_page(services, run.id)
        (line,) = page.report.steps  # what /runs/RUN renders
        assert line.error == step["error"]
        assert page.report.reason == reported["reason"]
    finally:
        services.store.close()
    with closing(sqlite3.connect(state / "state.db")) as conn:
        (data,) = conn.execute("SELECT data FROM events WHERE kind = 'step.failed'").fetchone()
    assert "[redacted GitHub token]" in data
    assert verify_chain(Store.open(state))
