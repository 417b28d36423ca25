"""Every shipped workflow parses and names only known actions, roles and tools; every shipped
template compiles; the demo script loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.engine.loader import check_names, override_problems
from harness.engine.templates import Templates
from harness.engine.workflow import parse_workflow
from harness.model.scripted import load_script
from harness.onboard import scaffold
from harness.paths import validators_dir, workflows_dir

WORKFLOWS = sorted(workflows_dir().glob("*.yaml"))
CI_FOLDER = workflows_dir() / "init" / "github"  # [[ ]] delimiters: ${{ }} belongs to Actions
TEMPLATES = sorted(
    p
    for p in [*workflows_dir().rglob("*.j2"), *validators_dir().rglob("*.j2")]
    if CI_FOLDER not in p.parents
)


@pytest.mark.parametrize(
    "path",
    [p for p in WORKFLOWS if p.stem not in ("tools", "prices", "models", "analysers")],
    ids=lambda p: p.name,
)
def test_shipped_workflows_are_valid(path: Path) -> None:
    workflow = parse_workflow(path.read_text(), f"workflows/{path.name}")
    check_names(workflow, path.name)


def test_shipped_workflows_keep_their_hand_offs() -> None:
    """What a run takes as it is when production overrides no workflow (``load_workflow``)."""
    assert override_problems(WORKFLOWS[0].parent / "no-overrides") == []


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_shipped_templates_compile(path: Path) -> None:
    Templates().env.parse(path.read_text())


@pytest.mark.parametrize("path", sorted(CI_FOLDER.rglob("*.j2")), ids=lambda p: p.name)
def test_shipped_ci_templates_compile(path: Path) -> None:
    env = scaffold._environment(CI_FOLDER, ci=True)
    env.parse(path.read_text())


def test_the_scripts_load() -> None:
    assert load_script(workflows_dir() / "demo" / "script.yaml")
    assert load_script(workflows_dir() / "scripted" / "default.yaml")
