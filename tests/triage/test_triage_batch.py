"""``factory triage --batch``: one Message Batch through the real SDK, same decisions, half price."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.triage.conftest import EXPECTED, ISSUES, make_repo


def file_all(capsys, repo: Path) -> None:
    for author, title, body in ISSUES:
        run_cli(
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


def decisions(rows: list[dict]) -> dict[int, tuple]:
    return {r["issue"]: (r["decision"], tuple(r["labels"])) for r in rows}


def test_batch_triage_uses_one_batch_and_costs_half(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], anthropic_env, monkeypatch
) -> None:
    standin = anthropic_env
    per_call_repo = make_repo(tmp_path / "a")
    file_all(capsys, per_call_repo)
    per_call = run_cli(capsys, "--repo", str(per_call_repo), "triage", "--json")
    assert per_call.code == 0, per_call.err
    per_call_cost = Store.open(tmp_path / "state").spend()
    calls_before = len(standin.received)

    monkeypatch.setenv("FACTORY_STATE_DIR", str(tmp_path / "state-batch"))
    batch_repo = make_repo(tmp_path / "b")
    file_all(capsys, batch_repo)
    batched = run_cli(capsys, "--repo", str(batch_repo), "triage", "--batch", "--json")
    assert batched.code == 0, batched.err
    assert decisions(batched.json()) == decisions(per_call.json())
    assert {r["issue"] for r in batched.json()} == set(EXPECTED)

    assert len(standin.received_batches) == 1  # one create call for every judged issue
    assert len(standin.received) == calls_before  # no per-call request at all
    ((_, body),) = standin.received_batches
    assert len(body["requests"]) == 6
    batch_cost = Store.open(tmp_path / "state-batch").spend()
    assert 0 < batch_cost <= 0.55 * per_call_cost
    shown = run_cli(capsys, "--repo", str(batch_repo), "issue", "show", "1", "--json").json()
    assert len([c for c in shown["comments"] if "<!-- factory:" in c["body"]]) == 1
