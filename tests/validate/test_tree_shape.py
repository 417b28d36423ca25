"""The other direction: what would land is checked again before any merge. A link that
passed implement's gates (``.github -> ci``, with no ``ci`` yet) turns into a workflow once
production gains ``ci/workflows/``: the candidate is refused by ``tree_shape``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.git.repo import GitRepo
from tests.checks_passed import analysers_find_nothing
from tests.cli_helpers import run_cli
from tests.factory_repo import git
from tests.standins.anthropic_standin import AnthropicStandIn
from tests.validate.conftest import accept_rule, journeys_pass, serve

TITLE = "Prepare the folder for CI files"
LINK = {
    "output": "finish",
    "match": TITLE,
    "turns": [
        [{"tool": "run_command", "input": {"command": "ln -s ci .github && ls -la .github"}}],
        [{"tool": "finish", "input": {"summary": "Linked .github to ci."}}],
    ],
}


@pytest.fixture
def linking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicStandIn]:
    """The scripted link; the hold-out's journeys and the security gate's analysers, which
    the refusal does not rest on, stand in as passed (``tree_shape`` is what is read)."""
    journeys_pass(monkeypatch)
    analysers_find_nothing(monkeypatch)
    yield from serve(tmp_path, monkeypatch, [accept_rule(TITLE, "Tidy."), LINK])


def test_a_candidate_that_aliases_a_protected_path_is_refused_before_any_merge(
    tmp_path: Path, capsys, app, linking
) -> None:
    repo, _ = app
    cli = ("--repo", str(repo))
    res = run_cli(
        capsys, *cli, "issue", "new", "--title", TITLE, "--body", "x", "--author", "owner", "--json"
    )
    number = int(res.json()["number"])
    assert run_cli(capsys, *cli, "triage", "--issue", str(number), "--json").code == 0
    res = run_cli(capsys, *cli, "implement", str(number), "--json")
    assert res.code == 0, res.err  # a dangling link inside the tree: nothing to refuse yet
    gates = run_cli(capsys, *cli, "report", res.json()["run_id"]).out
    assert "PASS  tree_shape" in gates

    # production moves: a maintainer adds a CI file where the link points
    (repo / "ci" / "workflows").mkdir(parents=True)
    (repo / "ci" / "workflows" / "deploy.yml").write_text("on: push\n")
    git(repo, "add", "ci")
    git(repo, "commit", "-q", "-m", "CI files")
    production = GitRepo(repo).rev_parse("main")

    res = run_cli(capsys, *cli, "validate", str(number), "--json")
    assert res.code == 1
    assert GitRepo(repo).rev_parse("main") == production  # nothing merged
    shown = run_cli(capsys, *cli, "issue", "show", str(number), "--json").json()
    assert "factory:merged" not in shown["labels"]
    comments = "\n".join(c["body"] for c in shown["comments"])
    assert "tree_shape: .github/workflows/deploy.yml (really ci/workflows/deploy.yml" in comments
    report = run_cli(capsys, *cli, "report", res.json()["run_id"]).out
    assert "FAIL  tree_shape: .github/workflows/deploy.yml" in report
