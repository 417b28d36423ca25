"""From the local rehearsal to GitHub without a trap: ``factory init --ci`` on a repository
rehearsed with ``--provider scripted`` says what GitHub needs changed, and ``factory check``
fails naming the forge, the provider, the repository and the rehearsal's trust; ``init --ci
github-actions --from-rehearsal`` switches them, keeping the maintainer's other edits, and
``check`` passes. The workflows ``init`` wrote then run, as GitHub Actions runs them
(``tests/actions_runner.py``), against the GitHub stand-in and the Messages API stand-in:
before the switch the triage job stops at its first step; after it, triage is planned and
applied."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.demo import generate
from harness.forge.base import Label, factory_labels
from harness.model.scripted import ScriptedModel, load_script
from tests.actions_runner import Runner
from tests.cli_helpers import run_cli
from tests.factory_repo import git
from tests.forge.github_helpers import TOKEN, standin_for
from tests.forge.shared_scenario import MARKER_KEY
from tests.standins.anthropic_standin import AnthropicStandIn

pytestmark = [pytest.mark.timeout(600)]
PINNED = f"git+https://github.com/example/dark-factory-harness@{'0' * 40}"
KEY = "sk-ant-test-rehearsal-0c1d"


def _triage_jobs(repo: Path, root: Path, hub, api: AnthropicStandIn) -> dict:
    runner = Runner(
        root, hub.server_url, hub.api_url, hub.repository, TOKEN, f"dark-factory-harness @ {PINNED}",
        secrets={"FACTORY_MARKER_KEY": MARKER_KEY, "ANTHROPIC_API_KEY": KEY},
        skip=frozenset({"work"}),  # the work workflow has tests of its own (test_github_plan.py)
        environment={"ANTHROPIC_BASE_URL": api.url},
        bare=hub.bare,
    )  # fmt: skip
    return runner.workflow(repo / ".github" / "workflows" / "factory-triage.yml")


def test_a_rehearsal_switches_to_github_and_its_jobs_run(tmp_path: Path, capsys) -> None:
    repo, _, _ = generate(tmp_path)  # the notes app, under the factory with a rehearsal
    for name in ("mission.md", "factory_rules.md", "CLAUDE.md", "factory.yaml"):
        (repo / name).unlink()
    git(repo, "remote", "add", "origin", "https://github.com/acme/app.git")
    cli = ("--repo", str(repo))
    assert run_cli(capsys, *cli, "init", "--provider", "scripted").code == 0
    mission = repo / "mission.md"
    mission.write_text(mission.read_text() + "\nNotes are kept for ever.\n")  # an edit of mine
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "The factory, rehearsed")

    told = run_cli(capsys, *cli, "init", "--ci", "github-actions", "--package", PINNED)
    assert told.code == 0, told.err
    assert "kept factory.yaml: it exists" in told.out
    needs = [line for line in told.out.splitlines() if line.startswith("GitHub needs: ")]
    checked = run_cli(capsys, *cli, "check")
    assert checked.code == 2
    errors = [line.removeprefix("factory: error: ") for line in checked.err.splitlines()]
    keys = [" ".join(e.split(": ")[:2]) for e in errors]
    assert keys == [
        "factory.yaml forge",
        "factory.yaml provider.type",
        "factory.yaml github.repository",
        "factory_rules.md trust.kind:docs.start",
    ]
    assert [n.removeprefix("GitHub needs: ") for n in needs] == errors
    assert all("--from-rehearsal" in e for e in errors)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "The factory's workflows")

    with (
        standin_for(repo, tmp_path) as hub,
        AnthropicStandIn(responder=ScriptedModel(load_script(repo / "scripted.yaml"))) as api,
    ):
        for name, (color, description) in factory_labels().items():
            hub.labels[name] = {"color": color, "description": description}
        hub.open_issue("Rehearsal: the factory's first change", "Add the note.", "alice")
        before = _triage_jobs(repo, tmp_path / "before", hub, api)
        assert not before["plan"]["ok"]  # forge: local on GitHub: its first step stops

        switched = run_cli(
            capsys, *cli, "init", "--ci", "github-actions", "--package", PINNED, "--from-rehearsal"
        )
        assert switched.code == 0, switched.err
        assert "switched factory.yaml: provider.script: removed" in switched.out, switched.out
        assert "script" not in yaml.safe_load((repo / "factory.yaml").read_text())["provider"]
        assert run_cli(capsys, *cli, "check").code == 0
        assert "Notes are kept for ever." in mission.read_text()
        git(repo, "commit", "-qam", "From the rehearsal to GitHub")
        git(repo, "push", "-q", str(hub.git_root / "acme" / "app.git"), "main")

        after = _triage_jobs(repo, tmp_path / "after", hub, api)
        assert after["plan"]["ok"] and after["apply"]["ok"]
        assert Label.ACCEPTED in hub.issues[1].labels  # by the model's answer, on GitHub
