"""``factory triage --batch``: one Message Batch through the real SDK, same decisions, half price."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.git.repo import GitRepo
from harness.store.db import Store
from harness.triage.repomap import map_rules
from tests.cli_helpers import repo_cli, run_cli
from tests.cli_helpers import spawn as factory
from tests.factory_repo import git
from tests.triage.conftest import API_KEY, EXPECTED, ISSUES, make_repo


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


def test_every_batched_request_shows_the_repository_and_what_the_validator_can_observe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], anthropic_env
) -> None:
    """Triage sees a bounded map of the production commit — files, the routes its code
    declares, its templates — and the sealed validator's browser tools, in the instructions
    every request of the batch shares byte for byte (one cached prefix); the map is made
    once per production commit."""
    standin = anthropic_env
    repo = make_repo(tmp_path / "a")
    (repo / "notes").mkdir()
    (repo / "notes" / "urls.py").write_text(
        "from django.urls import path\n\nurlpatterns = [\n"
        "    path('feeds/<str:key>/shared.xml', views.feed, name='feed'),\n]\n"
    )
    (repo / "notes" / "templates" / "notes").mkdir(parents=True)
    (repo / "notes" / "templates" / "notes" / "layout.html").write_text("<html></html>\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a Django app")
    file_all(capsys, repo)
    batched = run_cli(capsys, "--repo", str(repo), "triage", "--batch", "--json")
    assert batched.code == 0, batched.err
    ((_, body),) = standin.received_batches
    systems = {json.dumps(r["params"]["system"]) for r in body["requests"]}
    assert len(body["requests"]) == 6 and len(systems) == 1  # the same prefix for every issue
    (system,) = systems
    instructions = json.loads(system)[1]["text"]
    tree = GitRepo(repo).rev_parse("main") or ""
    files = len(GitRepo(repo).list_tree(tree))
    assert f"<repository_map>\nThe production branch holds {files} files." in instructions
    assert "notes/urls.py: feeds/<str:key>/shared.xml" in instructions  # a route it declares
    assert "notes/templates/notes/layout.html" in instructions  # a template
    assert "- browser_head: The current page's <head>" in instructions  # what can be observed
    assert "- browser_fetch: GET one address of the app" in instructions
    assert 'a "before" the fresh app does not have' in instructions
    state = Store.open(tmp_path / "state")
    runs = state.list_runs(limit=None, workflow="triage")
    maps = {
        s.outputs["map"]
        for r in runs
        for s in state.steps(r.id)
        if s.step_id == "context" and "map" in s.outputs
    }
    _, digest = map_rules()
    assert maps == {state.get_flag(f"triage-map:{tree}:{digest}")}  # made once, kept


def test_a_batch_killed_at_each_stage_is_resumed_and_each_issue_triaged_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], standin
) -> None:
    """``kill -9`` as the first pass queues (after the first pre-screen), once the batch is
    answered, and as the runs resumed with its answers are judged: each run resumes the inbox
    run killed before it, and the batch's answers kept are not asked for again."""
    repo = make_repo(tmp_path)
    env = {**os.environ, "ANTHROPIC_API_KEY": API_KEY, "ANTHROPIC_BASE_URL": standin.url}
    file_all(capsys, repo)
    for point in (
        "triage.prescreen.done",
        "model.batch.sent",
        "inbox.send.done",
        "triage.judge.done",
    ):
        killed = factory(repo, {**env, "FACTORY_FAULT_AT": point}, "triage", "--batch")
        assert killed.wait(120) == -9, point
    final = factory(repo, env, "triage", "--batch", "--json")
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    assert {r["issue"] for r in json.loads(out)} == set(EXPECTED)

    assert len(standin.received_batches) == 1 and standin.received == []
    cli = repo_cli(capsys, repo)
    for number, label in EXPECTED.items():
        shown = cli("issue", "show", str(number), "--json").json()
        assert [x for x in shown["labels"] if x.startswith("factory:")] == [label], number
        assert len([c for c in shown["comments"] if "<!-- factory:" in c["body"]]) == 1
    state = Store.open(tmp_path / "state")
    triaged = state.list_runs(limit=None, workflow="triage")
    assert sorted(r.issue for r in triaged) == sorted(EXPECTED)  # one run each, resumed
    assert {r.status for r in triaged} == {"succeeded"}
    assert [r.status for r in state.list_runs(limit=None, workflow="inbox")] == ["succeeded"]
