"""``factory implement`` with an implementer that plants what git would follow: a linked
``.github``, a nested repository, a ``.gitmodules`` with an ``ext::`` URL, a ``.git`` file
naming the main repository's git directory. Each is refused by the ``tree_shape`` gate; none
reaches a PR, and the main repository's HEAD is in nothing the run produced. The security
gate's analysers stand in as having found nothing (``analysers_quiet``): the tree's shape is
the subject."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.git.repo import GitRepo
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


def _turns(repo: Path) -> dict[str, list[list[dict[str, Any]]]]:
    write = "write_file"
    return {
        "Link the workflows": [
            [{"tool": write, "input": {"path": "ci/workflows/x.yml", "content": "on: push\n"}}],
            [{"tool": "run_command", "input": {"command": "ln -s ci .github && ls -la"}}],
        ],
        "Vendor a library": [
            [
                {
                    "tool": "run_command",
                    "input": {
                        "command": "mkdir -p vendor/x && cd vendor/x && git init -q && "
                        "git -c user.name=a -c user.email=a@b commit -q --allow-empty -m x"
                    },
                }
            ],
        ],
        "Declare a submodule": [
            [
                {
                    "tool": write,
                    "input": {
                        "path": ".gitmodules",
                        "content": '[submodule "x"]\n\tpath = x\n\turl = ext::sh -c touch% /tmp/X\n',
                    },
                }
            ],
        ],
        "Point at the main repository": [
            [{"tool": write, "input": {"path": "leak/.git", "content": f"gitdir: {repo}/.git\n"}}],
        ],
        "Start a scratch repository": [
            [{"tool": "run_command", "input": {"command": "git init -q sub && ls -a sub"}}],
        ],
    }


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = make_app_repo(tmp_path)
    # the checkout's HEAD is a commit production does not have: a gitlink made by following
    # leak/.git would carry exactly this SHA
    git(repo, "checkout", "-q", "-b", "scratch")
    (repo / "scratch.txt").write_text("scratch\n")
    git(repo, "add", "scratch.txt")
    git(repo, "commit", "-q", "-m", "scratch work")
    return repo


@pytest.fixture
def shape_standin(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AnthropicStandIn]:
    rules: list[dict[str, Any]] = yaml.safe_load(SCRIPT.read_text())
    for title, turns in _turns(repo).items():
        finish = [{"tool": "finish", "input": {"summary": "Done."}}]
        rules.insert(0, {"output": "finish", "match": title, "turns": [*turns, finish]})
    script = tmp_path / "shape.yaml"
    script.write_text(yaml.safe_dump(rules))
    with AnthropicStandIn(responder=ScriptedModel(load_script(script))) as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server


def _everything_for(capsys, repo: Path, state: Path, number: int) -> str:
    """Every PR, comment and record the run left: the issue, the store, the transcripts."""
    issue = run_cli(capsys, "--repo", str(repo), "issue", "show", str(number), "--json").json()
    store = Store.open(state)
    texts = [json.dumps(issue), json.dumps([pr.body for pr in pull_requests(store, number)])]
    for run in store.list_runs(limit=None, issue=number):
        texts += [json.dumps(s.outputs) + str(s.error) for s in store.steps(run.id)]
    texts += [p.read_text("utf-8") for p in (state / "transcripts").rglob("*.json")]
    return "\n".join(texts)


@pytest.mark.parametrize(
    ("title", "evidence"),
    [
        (
            "Link the workflows",
            ".github/workflows/x.yml (really ci/workflows/x.yml, through a link) matches "
            "protected .github/**",
        ),
        ("Vendor a library", "vendor/x/.git: a nested repository"),
        ("Declare a submodule", ".gitmodules: a change to .gitmodules"),
        ("Point at the main repository", "leak/.git: a .git file below the worktree's root"),
        ("Start a scratch repository", "sub/.git: a nested repository"),
    ],
)
def test_what_git_would_follow_is_refused_by_the_tree_shape_gate(
    tmp_path: Path, capsys, repo: Path, shape_standin: AnthropicStandIn, title: str, evidence: str
) -> None:
    production = GitRepo(repo).rev_parse("main")
    checkout_head = GitRepo(repo).rev_parse("HEAD")
    assert checkout_head is not None and checkout_head != production
    number = accepted_issue(capsys, repo, title)
    res = run_cli(capsys, "--repo", str(repo), "implement", str(number), "--json")
    assert res.code == 1, res.err
    assert "gates failed: tree_shape" in res.json()["reason"]
    state = tmp_path / "state"
    assert pull_requests(Store.open(state), number) == []
    assert GitRepo(repo).rev_parse("main") == production  # nothing reached production
    issue = run_cli(capsys, "--repo", str(repo), "issue", "show", str(number), "--json").json()
    assert "factory:needs-human" in issue["labels"]
    (comment,) = [c["body"] for c in issue["comments"] if "Stopped" in c["body"]]
    assert f"- tree_shape: {evidence}" in comment  # one readable reason, with its evidence
    report = run_cli(capsys, "--repo", str(repo), "report", res.json()["run_id"])
    assert re.search(r"^  FAIL  tree_shape: ", report.out, re.M), report.out
    assert checkout_head not in _everything_for(capsys, repo, state, number)
    steps = Store.open(state).steps(res.json()["run_id"])
    assert [s.step_id for s in steps].count("code") == 1  # a gate is not retried: a person decides
    assert not Path("/tmp/X").exists()  # the ext:: URL was never fetched
