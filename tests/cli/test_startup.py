"""A command starts without what it does not use: ``factory --help`` imports the command
modules and click, nothing of the engine; each command imports its own dependencies (the
Anthropic SDK, PyGithub, pydantic, Jinja, rich, Starlette, Playwright) when it runs. What
this costs in seconds is measured by the benchmark (``benchmarks/store_rows.py``)."""

from __future__ import annotations

import json
import subprocess
import sys

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


def _imported(code: str) -> list[str]:
    """The heavy top-level packages (and harness modules) loaded after ``code`` ran."""
    probe = (
        "import contextlib, io, json, sys\n"
        f"with contextlib.redirect_stdout(io.StringIO()):\n    {code}\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:]))\n"
        "print(json.dumps(heavy + sorted(m for m in sys.modules if m.startswith('harness.'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *HEAVY], capture_output=True, text=True, check=True
    ).stdout
    found: list[str] = json.loads(out)
    return found


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
