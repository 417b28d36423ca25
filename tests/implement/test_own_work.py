"""What the implementer sees of its own work, through ``factory implement`` with the real client
against the stand-in: read-only ``git`` on its worktree inside the sandbox, with no host path
in any tool result, and a new file a ``.gitignore`` keeps out of the change named where it
is written and in the pull request. The security gate's analysers stand in as having found
nothing (``analysers_quiet``): what the implementer sees is the subject."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.artifacts import Worktree
from harness.model.scripted import ScriptedModel, load_script
from harness.sandbox.bwrap import sandbox_available
from harness.store.db import Store
from tests.cli_helpers import run_cli
from tests.factory_repo import git
from tests.implement.conftest import KEY, SCRIPT, accepted_issue, make_app_repo
from tests.standins.anthropic_standin import AnthropicStandIn
from tests.store_reads import pull_requests

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(not sandbox_available(), reason="bubblewrap (bwrap) is not installed"),
    pytest.mark.usefixtures("analysers_quiet"),
]

LOOK = "git status; git diff; git log -1 --format=%s; git rev-parse --git-dir; cat .git"


@pytest.fixture
def looking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicStandIn]:
    """An implementer that edits ``app.py``, writes ``notes.json`` (which ``.gitignore``
    names) and looks at its work with git."""
    rules: list[dict[str, Any]] = yaml.safe_load(SCRIPT.read_text())
    edit = {"path": "app.py", "old_text": "'notes'", "new_text": "'notes, counted'"}
    turns = [
        [{"tool": "edit_file", "input": edit}],
        [{"tool": "write_file", "input": {"path": "notes.json", "content": "[]\n"}}],
        [{"tool": "run_command", "input": {"command": LOOK}}],
        [{"tool": "finish", "input": {"summary": "Counted the notes."}}],
    ]
    rules.insert(0, {"output": "finish", "match": "Count the notes", "turns": turns})
    path = tmp_path / "looking.yaml"
    path.write_text(yaml.safe_dump(rules))
    with AnthropicStandIn(responder=ScriptedModel(load_script(path))) as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server


def _tool_results(standin: AnthropicStandIn) -> list[str]:
    """Every tool result the model was sent, once each (each request repeats the earlier)."""
    found: dict[str, None] = {}
    for _, body in standin.received:
        for message in body.get("messages", []):
            for block in message.get("content") if isinstance(message["content"], list) else []:
                if block.get("type") == "tool_result":
                    found[json.dumps(block.get("content"), ensure_ascii=False)] = None
    return list(found)


def test_the_implementer_reads_its_own_diff_and_is_told_what_gitignore_keeps_out(
    tmp_path: Path, looking: AnthropicStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_app_repo(tmp_path)
    (repo / ".gitignore").write_text(".factory/\nnotes.json\n")
    git(repo, "commit", "-qam", "notes.json is the app's data")
    number = accepted_issue(capsys, repo, "Count the notes")
    res = run_cli(capsys, "--repo", str(repo), "implement", str(number), "--json")
    assert res.code == 0, res.err

    results = _tool_results(looking)
    (looked,) = [r for r in results if "On branch" in r]
    assert "modified:   app.py" in looked and "+print('notes, counted')" in looked, looked
    assert "notes.json is the app's data" in looked  # git log: the commit it started from
    (wrote,) = [r for r in results if "wrote notes.json" in r]
    assert "a .gitignore names notes.json: it stays out of the change" in wrote, wrote
    store = Store.open(tmp_path / "state")
    ((_, worktree),) = store.artifacts(Worktree, number)
    for path in (tmp_path, Path(worktree.path), repo / ".git", Path("/dev/shm/factory-")):
        assert not any(str(path) in r for r in results), path
    (pr,) = pull_requests(store, number)
    assert "Left out of the change by a `.gitignore`" in pr.body
    assert "`notes.json`" in pr.body, pr.body


def test_a_file_a_gitignore_named_when_written_but_that_lands_is_not_called_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The pull request's "left out" names only what a ``.gitignore`` kept out of the commit
    that lands: a file written while ignored, whose line the implementer then removed, is in
    the change (read from the diff the gates judged), and is not called left out."""
    rules: list[dict[str, Any]] = yaml.safe_load(SCRIPT.read_text())
    unignore = {"path": ".gitignore", "old_text": "notes.json\n", "new_text": ""}
    turns = [
        [{"tool": "write_file", "input": {"path": "notes.json", "content": "[]\n"}}],
        [{"tool": "write_file", "input": {"path": "cache.json", "content": "{}\n"}}],
        [{"tool": "edit_file", "input": unignore}],
        [{"tool": "finish", "input": {"summary": "Kept the notes."}}],
    ]
    rules.insert(0, {"output": "finish", "match": "Keep the notes", "turns": turns})
    path = tmp_path / "unignoring.yaml"
    path.write_text(yaml.safe_dump(rules))
    repo = make_app_repo(tmp_path)
    (repo / ".gitignore").write_text(".factory/\nnotes.json\ncache.json\n")
    git(repo, "commit", "-qam", "the app's data stays out of git")
    with AnthropicStandIn(responder=ScriptedModel(load_script(path))) as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        number = accepted_issue(capsys, repo, "Keep the notes")
        res = run_cli(capsys, "--repo", str(repo), "implement", str(number), "--json")
    assert res.code == 0, res.err
    (pr,) = pull_requests(Store.open(tmp_path / "state"), number)
    assert "notes.json" in git(repo, "show", "--stat", "--format=", pr.head_sha)
    (left_out,) = [line for line in pr.body.splitlines() if line.startswith("Left out")]
    assert "`cache.json`" in left_out and "notes.json" not in left_out, left_out
