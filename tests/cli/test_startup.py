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
    # the errors, the path rules the options check and the CI systems --ci offers (the
    # onboard package's face, a table of names): the standard library only
    assert sorted(others) == ["harness.errors", "harness.onboard", "harness.paths"], others


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


def test_commands_that_ask_no_model_need_no_key_and_no_sdk(tmp_path: Path) -> None:
    """``health``, ``lessons``, ``reject``, ``check`` and an audit of the analysers alone (an
    override without the auditor) on an ``anthropic`` factory.yaml start without
    ``ANTHROPIC_API_KEY`` and never import the SDK: the client is built when a step first
    asks the model, and none of them does (``check`` lists the API's models only with a
    key: without one it says the key is missing, and needs no SDK to say so)."""
    from harness.cli.common import state_dir
    from harness.forge.base import Label, set_state
    from harness.forge.local import LocalForge
    from harness.git.repo import GitRepo
    from harness.paths import workflows_dir
    from harness.store.db import Store

    repo = make_factory_repo(tmp_path / "repo", provider={"type": "anthropic"})
    forge = LocalForge(Store.open(state_dir(repo)), GitRepo(repo))
    number = forge.create_issue("Dark mode", "Please add a dark mode.", "alice").number
    set_state(forge, number, Label.NEEDS_HUMAN)
    shipped = (workflows_dir() / "audit.yaml").read_text().split("  - id: auditor")
    analysers_only = shipped[0] + "  - {id: select" + shipped[1].split("  - {id: select", 1)[1]
    (repo / ".factory" / "workflows").mkdir(parents=True)
    (repo / ".factory" / "workflows" / "audit.yaml").write_text(analysers_only)
    git(repo, "add", "-f", ".factory/workflows/audit.yaml")
    git(repo, "commit", "-qm", "an audit of the analysers alone")
    commands = (
        ["health"],
        ["lessons"],
        ["reject", str(number), "--reason", "out of scope"],
        ["audit", "--json"],
        ["check"],
    )
    # one interpreter runs them in turn (a module once loaded stays loaded): after each, it
    # says whether the SDK is loaded, so a command that loads it is named
    code = (
        "import os, sys\n    os.environ.pop('ANTHROPIC_API_KEY', None)\n"
        "    os.environ.pop('ANTHROPIC_AUTH_TOKEN', None)\n"
        "    from harness.cli import main\n"
        f"    for command in {commands!r}:\n"
        "        try:\n"
        f"            main(['--repo', {str(repo)!r}, *command])\n"
        "        except SystemExit as exc:\n"
        "            assert not exc.code, (command, exc.code)\n"
        "        print('\\n', command, 'anthropic' in sys.modules)"
    )
    found, printed = _run(code, ("anthropic",))
    assert "anthropic" not in found, printed
    assert printed.count(" False\n") == len(commands), printed  # each command ran to its end
    assert forge.get_issue(number).state == "closed"  # the rejection was made


def test_check_loads_neither_the_engine_the_sandbox_nor_the_store(tmp_path: Path) -> None:
    """``factory check`` validates files: with no workflow override, none of the engine's
    records and hand-off checks, the sandbox's policy, the local forge or the store is
    loaded (each is tens of milliseconds of a command the docs call fast; the whole
    process is measured by ``python -m benchmarks check``)."""
    repo = make_factory_repo(tmp_path / "repo")
    code = (
        "from harness.cli import main\n    try:\n"
        f"        main(['--repo', {str(repo)!r}, 'check'])\n"
        "    except SystemExit as exc:\n        assert not exc.code, exc.code"
    )
    found, printed = _run(code)
    assert "ok: static checks pass" in printed, printed
    unused = ("artifacts", "engine.handoffs", "sandbox.policy", "forge.local", "store.db")
    assert not {f"harness.{name}" for name in unused} & set(found), found


def test_the_process_s_own_command_freezes_what_is_left_after_every_exit_handler() -> None:
    """``factory`` run as a process of its own (the console script, ``python -m harness``):
    after its other exit handlers, what is left is frozen, so the interpreter's finalization
    does not walk it; a command called in a process that goes on (a test, the dashboard)
    registers nothing (fault put back by hand: no freeze, caught)."""
    import atexit

    from harness.cli import main

    probe = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen' if gc.get_freeze_count() else 'left'))\n"
        "from harness.cli import main\n"
        "sys.argv = ['factory', '--help']\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "frozen", done
    before = atexit._ncallbacks()
    main(["--help"])
    assert atexit._ncallbacks() == before
