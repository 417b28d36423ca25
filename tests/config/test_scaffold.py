"""CI templates mirror their target folder; the CI system's own ${{ }} survives rendering."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from harness.config.scaffold import ci_files
from harness.model.scripted import load_script
from tests.cli_helpers import run_cli

WORKFLOW = """name: factory triage
on:
  schedule: [{cron: "17 3 * * *"}]
jobs:
  triage:
    runs-on: ubuntu-latest
    steps:
      - run: factory triage
        env:
          ISSUE: ${{ github.event.issue.number }}
          BRANCH: [[ branch ]]
[% if forge == "github" %]
          FORGE: github
[% endif %]
"""


def test_ci_templates_render_with_their_own_delimiters(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    (folder / "workflows").mkdir(parents=True)
    (folder / "workflows" / "triage.yml.j2").write_text(WORKFLOW)
    (folder / "CODEOWNERS").write_text("* @{{ not-a-template }}\n")
    files = ci_files(folder, tmp_path / "repo" / ".github", {"branch": "main", "forge": "github"})
    target = tmp_path / "repo" / ".github"
    assert sorted(files) == [target / "CODEOWNERS", target / "workflows" / "triage.yml"]
    rendered = files[target / "workflows" / "triage.yml"]
    env = yaml.safe_load(rendered)["jobs"]["triage"]["steps"][0]["env"]
    assert env == {"ISSUE": "${{ github.event.issue.number }}", "BRANCH": "main", "FORGE": "github"}
    assert files[target / "CODEOWNERS"] == "* @{{ not-a-template }}\n"


def test_no_folder_no_files(tmp_path: Path) -> None:
    assert ci_files(tmp_path / "absent", tmp_path / ".github", {}) == {}


@pytest.mark.parametrize(
    ("files", "label", "test_line"),
    [
        ({"pyproject.toml": "[project]\nname = 'x'\n"}, "Python (pyproject.toml)", "pytest"),
        ({"requirements.txt": "flask\n"}, "Python (requirements.txt)", "pytest"),
        ({"package.json": "{}"}, "Node (package.json)", "npm test"),
        ({}, "no build files found", "exit 1"),
    ],
)
def test_init_writes_commands_for_the_project_it_finds(
    empty_repo: Path, capsys, files: dict[str, str], label: str, test_line: str
) -> None:
    for name, text in files.items():
        (empty_repo / name).write_text(text)
    res = run_cli(capsys, "--repo", str(empty_repo), "init")
    assert res.code == 0 and label in res.out, res.err
    config = (empty_repo / "factory.yaml").read_text()
    commands = yaml.safe_load(config)["commands"]
    assert test_line in commands["test"] and "start" not in commands  # start: set by hand
    assert "{port}" in config.split("# start:")[1].splitlines()[0]
    for line in commands.values():
        assert not re.search(r"(^|[\s;&|])python\s", str(line)), line  # no bare `python`
    assert (".venv/" in (empty_repo / ".gitignore").read_text()) is label.startswith("Python")


@pytest.mark.parametrize(
    "args",
    [("--provider", "scripted", "init"), ("init", "--provider", "scripted")],
    ids=["global-option", "init-option"],  # the README and factory.yaml say the second
)
def test_init_with_the_scripted_provider_writes_example_answers(
    empty_repo: Path, capsys, args: tuple[str, ...]
) -> None:
    res = run_cli(capsys, "--repo", str(empty_repo), *args)
    assert res.code == 0, res.err
    config = yaml.safe_load((empty_repo / "factory.yaml").read_text())
    assert config["provider"] == {"type": "scripted", "script": "scripted.yaml"} | {
        k: v for k, v in config["provider"].items() if k not in ("type", "script")
    }
    assert load_script(empty_repo / "scripted.yaml")  # the example loads as it is
    check = run_cli(capsys, "--repo", str(empty_repo), "check")
    assert "note: factory.yaml: provider: scripted: scripted answers from" in check.out


def test_init_writes_a_first_holdout_journey_and_never_touches_an_existing_one(
    empty_repo: Path, capsys
) -> None:
    starter = empty_repo.parent / f"{empty_repo.name}-holdout" / "journeys" / "home.yaml"
    res = run_cli(capsys, "--repo", str(empty_repo), "init")
    assert res.code == 0, res.err
    assert f"wrote {starter}" in res.out
    assert yaml.safe_load(starter.read_text()) == {"name": "home", "steps": [{"goto": "/"}]}
    starter.write_text("name: mine\nsteps: [goto: /notes]\n")
    res = run_cli(capsys, "--repo", str(empty_repo), "init", "--force")
    assert res.code == 0, res.err
    assert "holdout" not in res.out and "hold-out" not in res.out
    assert starter.read_text() == "name: mine\nsteps: [goto: /notes]\n"
