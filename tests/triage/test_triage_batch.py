"""``factory triage --batch``: one Message Batch through the real SDK, same decisions, half price."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.git.repo import GitRepo
from harness.store.db import Store
from harness.triage.repomap import map_rules
from tests.cli_helpers import run_cli
from tests.factory_repo import git
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
    runs = state.list_runs(workflow="triage")
    maps = {
        s.outputs["map"]
        for r in runs
        for s in state.steps(r.id)
        if s.step_id == "context" and "map" in s.outputs
    }
    _, digest = map_rules()
    assert maps == {state.get_flag(f"triage-map:{tree}:{digest}")}  # made once, kept
