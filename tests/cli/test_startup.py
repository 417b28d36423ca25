"""A command starts without what it does not use: ``factory --help`` imports the command
modules and click, nothing of the engine; each command imports its own dependencies (the
Anthropic SDK, PyGithub, pydantic, Jinja, rich, Starlette, Playwright) when it runs. What
this costs in seconds is measured by the benchmark (``benchmarks/store_rows.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config.settings import load_settings
from harness.errors import ConfigErrors
from tests.factory_repo import MISSION, RULES, git, make_factory_repo

HEAVY = (
    "anthropic",
    "github",
    "pydantic",
    "jinja2",
    "rich",
    "starlette",
    "uvicorn",
    "playwright",
    "yaml",
    "jsonschema",
)


def _run(code: str, heavy: tuple[str, ...] = HEAVY) -> tuple[list[str], str]:
    """The ``heavy`` top-level packages (and harness modules) loaded after ``code`` ran in a
    fresh interpreter, and what it printed."""
    probe = (
        "import contextlib, io, json, sys\n"
        f"with contextlib.redirect_stdout(out := io.StringIO()):\n    {code}\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:]))\n"
        "found = heavy + sorted(m for m in sys.modules if m.startswith('harness.'))\n"
        "print(json.dumps([*found, out.getvalue()]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *heavy], capture_output=True, text=True, check=True
    ).stdout
    *found, printed = json.loads(out)
    return found, printed


def _imported(code: str) -> list[str]:
    return _run(code)[0]


def test_the_cli_imports_neither_the_model_sdk_nor_the_github_client() -> None:
    found = _imported("import harness.cli")
    assert not set(found) & set(HEAVY), found


def test_help_imports_the_commands_and_nothing_they_run() -> None:
    found = _imported(
        "from harness.cli import main\n    try:\n        main(['--help'])\n"
        "    except SystemExit:\n        pass"
    )
    assert not set(found) & set(HEAVY), found
    others = [m for m in found if m != "harness.cli" and not m.startswith("harness.cli.")]
    # the errors and the path rules the options check (both the standard library only)
    assert sorted(others) == ["harness.errors", "harness.paths"], others


def test_the_store_alone_imports_no_model_or_validation_library() -> None:
    """``status`` and ``runs`` read the store: opening it needs no pydantic model."""
    found = _imported("import harness.store.db")
    assert not set(found) & set(HEAVY), found


def test_status_reads_trust_without_the_mission_parser(tmp_path: Path) -> None:
    """``status`` shows earned trust from factory.yaml and factory_rules.md as committed:
    it loads neither the Markdown parser (mission.md's sections are ``factory check``'s and
    every run's to check) nor what other commands run."""
    rules = RULES.replace("---\n#", "trust: {kind:bug: {earn_after: 2}}\n---\n#")
    repo = make_factory_repo(tmp_path / "repo", rules=rules)
    (repo / "mission.md").write_text(MISSION.split("## Out of scope")[0])  # a section short
    git(repo, "commit", "-qam", "mission without its out-of-scope list")
    found, printed = _run(
        f"from harness.cli import main\n    main(['--repo', {str(repo)!r}, 'status', '--json'])",
        ("markdown_it", "mdurl", *(name for name in HEAVY if name not in ("pydantic", "yaml"))),
    )
    assert not [m for m in found if not m.startswith("harness.")], found
    trust = json.loads(printed)["trust"]
    assert [(t["kind"], t["earn_after"]) for t in trust] == [("bug", 2)], printed
    with pytest.raises(ConfigErrors, match=r"mission\.md: ## Out of scope"):  # runs refuse it
        load_settings(repo, tmp_path / "state")
    found, _ = _run(
        f"from harness.cli import main\n    main(['--repo', {str(repo)!r}, 'runs', '--json'])"
    )
    assert not set(found) & set(HEAVY), found  # the table's library (rich) too
