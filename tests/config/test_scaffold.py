"""CI templates mirror their target folder; the CI system's own ${{ }} survives rendering."""

from __future__ import annotations

from pathlib import Path

import yaml

from harness.config.scaffold import ci_files

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
