"""CI templates mirror their target folder; the CI system's own ${{ }} survives rendering."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from harness.model.scripted import load_script
from harness.onboard.scaffold import ci_files
from tests.cli_helpers import run_cli
from tests.factory_repo import write_files

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
        # MDN's LocalLibrary: Django's own test runner, in the venv the recipe makes
        (
            {"requirements.txt": "Django\n", "manage.py": ""},
            "Python (requirements.txt)",
            ".venv/bin/python manage.py test",
        ),
        (  # a Django project that tests with pytest-django keeps pytest
            {"requirements.txt": "Django\npytest-django\n", "manage.py": ""},
            "Python (requirements.txt)",
            ".venv/bin/python -m pytest -q",
        ),
        (  # a Flask app tested with unittest in a tests.py (microblog's layout)
            {"requirements.txt": "flask\n", "tests.py": "import unittest\n"},
            "Python (requirements.txt)",
            ".venv/bin/python -m unittest",
        ),
        (  # unittest's test files in tests/, no pytest configured
            {"pyproject.toml": "[project]\nname = 'x'\n", "tests/test_app.py": "import unittest\n"},
            "Python (pyproject.toml)",
            ".venv/bin/python -m unittest",
        ),
        (  # test files that import pytest: pytest, configured or not
            {"requirements.txt": "flask\n", "test_app.py": "import pytest\nimport unittest\n"},
            "Python (requirements.txt)",
            ".venv/bin/python -m pytest -q",
        ),
        ({"package.json": "{}"}, "Node (package.json)", "npm test"),
        ({}, "no build files found", "exit 1"),
    ],
)
def test_init_writes_commands_for_the_project_it_finds(
    empty_repo: Path, capsys, files: dict[str, str], label: str, test_line: str
) -> None:
    write_files(empty_repo, files)
    res = run_cli(capsys, "--repo", str(empty_repo), "init")
    assert res.code == 0 and label in res.out, res.err
    config = (empty_repo / "factory.yaml").read_text()
    commands = yaml.safe_load(config)["commands"]
    assert test_line in commands["test"] and "start" not in commands  # start: set by hand
    assert f"`{commands['test']}`" in (empty_repo / "CLAUDE.md").read_text()  # the same command
    assert "{port}" in config.split("# start:")[1].splitlines()[0]
    for line in commands.values():
        assert not re.search(r"(^|[\s;&|])python\s", str(line)), line  # no bare `python`
    assert (".venv/" in (empty_repo / ".gitignore").read_text()) is label.startswith("Python")
    # what setup may reach, written out: the registries of the manifests found (the maintainer's)
    allow = yaml.safe_load(config)["network"]["allow"]
    assert allow == {"Python": PYPI, "Node": ["registry.npmjs.org"]}.get(label.split()[0], [])


PYPI = ["pypi.org", "files.pythonhosted.org"]
PYPROJECT_TEST_EXTRA = "[project]\nname = 'my-app'\n[project.optional-dependencies]\ntest = []\n"
PYPROJECT_DEV_GROUP = """[project]
name = "sqlite-utils"
[dependency-groups]
dev = ["hypothesis", "pytest", {include-group = "docs"}]
docs = ["sphinx"]
"""
PYRAMID_SETUP = """from setuptools import setup
dev_requires = ['pyramid_debugtoolbar', 'pytest', 'webtest']
setup(
    name='tutorial',
    extras_require={
        'dev': dev_requires,
    },
)
"""


@pytest.mark.parametrize(
    ("files", "label", "setup", "start"),
    [
        (  # Flask's tutorial: src/ layout, a test extra, a dev requirements file
            {
                "pyproject.toml": PYPROJECT_TEST_EXTRA,
                "src/flaskr/__init__.py": "",
                "requirements-dev.txt": "coverage\n",
            },
            "Python (pyproject.toml)",
            "-e '.[test]' -r requirements-dev.txt pytest",
            "-m flaskr --port {port}",
        ),
        (  # Pyramid's quick tutorial: setup.py only, a dev extra
            {"setup.py": PYRAMID_SETUP, "tutorial/__init__.py": "", "tests/__init__.py": ""},
            "Python (setup.py)",
            "-e '.[dev]' pytest",
            "-m tutorial --port {port}",
        ),
        (
            {"setup.cfg": "[metadata]\nname = x\n[options.extras_require]\ntesting = pytest\n"},
            "Python (setup.cfg)",
            "-e '.[testing]' pytest",
            "-m yourapp --port {port}",
        ),
        (  # a pyproject.toml that only configures tools does not make a package
            {
                "pyproject.toml": "[tool.ruff]\nline-length = 100\n",
                "requirements.txt": "flask\n",
                "test-requirements.txt": "pytest\n",
            },
            "Python (requirements.txt)",
            "-r requirements.txt -r test-requirements.txt pytest",
            "app.py --port {port}",
        ),
        (
            {"pyproject.toml": "[project]\nname = 'my-app'\n"},
            "Python (pyproject.toml)",
            "pip install -q -e . pytest",
            "-m my_app --port {port}",
        ),
        (  # sqlite-utils: the test tools in a PEP 735 group, which pip installs from 25.1 on
            {"pyproject.toml": PYPROJECT_DEV_GROUP, "sqlite_utils/__init__.py": ""},
            "Python (pyproject.toml)",
            "pip install -q 'pip>=25.1' && .venv/bin/pip install -q -e . --group dev pytest",
            "-m sqlite_utils --port {port}",
        ),
    ],
    ids=[
        "flask-tutorial",
        "pyramid-tutorial",
        "setup-cfg",
        "tool-only-pyproject",
        "plain-pep621",
        "dependency-group",
    ],
)
def test_init_reads_python_layouts(
    empty_repo: Path, capsys, files: dict[str, str], label: str, setup: str, start: str
) -> None:
    write_files(empty_repo, files)
    res = run_cli(capsys, "--repo", str(empty_repo), "init")
    assert res.code == 0 and f"project: {label};" in res.out, res.out + res.err
    written = (empty_repo / "factory.yaml").read_text()
    commands = yaml.safe_load(written)["commands"]
    assert commands["setup"].startswith("python3 -m venv .venv && .venv/bin/pip install -q ")
    assert commands["setup"].endswith(setup), commands["setup"]
    assert f'  # start: ".venv/bin/python {start}"' in written
    assert run_cli(capsys, "--repo", str(empty_repo), "check").code == 0


@pytest.mark.parametrize(
    "args",
    [("--provider", "scripted", "init"), ("init", "--provider", "scripted")],
    ids=["global-option", "init-option"],  # the docs and factory.yaml say the second
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
    rules = load_script(empty_repo / "scripted.yaml")  # the example loads as it is
    outputs = {"submit_triage", "submit_plan", "finish", "submit_review", "submit_verdict"}
    assert {r.output for r in rules} == outputs  # an answer for every role
    assert "kind:docs:" in (empty_repo / "factory_rules.md").read_text()  # the rehearsal's kind
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


def test_check_reads_the_script_as_a_run_would(empty_repo: Path, capsys) -> None:
    assert run_cli(capsys, "--repo", str(empty_repo), "init", "--provider", "scripted").code == 0
    (empty_repo / "scripted.yaml").write_text("- {output: finish, turns: [], matches: x}\n")
    warnings = run_cli(capsys, "--repo", str(empty_repo), "check", "--json").json()["warnings"]
    (line,) = [w for w in warnings if "provider.script" in w]
    assert "scripted.yaml: [0].turns:" in line, line


def interpreters(folder: Path, default: str, *others: str) -> str:
    """A PATH folder as the sandbox would see it: python3 linked to ``default``, and
    ``others`` beside it."""
    folder.mkdir()
    for name in (default, *others):
        (folder / name).write_text("#!/bin/sh\n")
    (folder / "python3").symlink_to(default)
    return str(folder)


UV_DJANGO = {  # linkding's shape: an app uv manages, no build system, Django's manage.py
    "pyproject.toml": "[project]\nname = 'site'\nrequires-python = '>=3.13'\n"
    "[dependency-groups]\ndev = ['pytest', 'pytest-django']\n",
    "uv.lock": "version = 1\n",
    "manage.py": "",
    "site/__init__.py": "",
}


def test_init_picks_uv_and_the_interpreter_the_project_requires(
    empty_repo: Path, capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.onboard import scaffold

    folder = interpreters(tmp_path / "bin", "python3.11", "python3.12", "python3.13", "python3.14")
    monkeypatch.setattr(scaffold, "INTERPRETERS", f"{tmp_path / 'absent'}:{folder}")
    write_files(empty_repo, UV_DJANGO)
    res = run_cli(capsys, "--repo", str(empty_repo), "init")
    assert res.code == 0 and "project: Python (uv.lock);" in res.out, res.out + res.err
    (warned,) = [line for line in res.out.splitlines() if line.startswith("warning:")]
    assert "commands.start: not set" in warned  # written commented out: a person sets it
    written = (empty_repo / "factory.yaml").read_text()
    setup = yaml.safe_load(written)["commands"]["setup"]
    assert "uv sync -q --frozen --python python3.13" in setup  # the oldest that fits
    assert "UV_PYTHON_DOWNLOADS=never" in setup and "pip install -q -e" not in setup
    start = written.split("# start: ")[1].splitlines()[0]
    assert "manage.py migrate --no-input && exec .venv/bin/python manage.py runserver" in start
    assert "127.0.0.1:{port}" in start
    assert run_cli(capsys, "--repo", str(empty_repo), "check").code == 0


def test_init_says_when_no_interpreter_fits(
    empty_repo: Path, capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.onboard import scaffold

    monkeypatch.setattr(scaffold, "INTERPRETERS", interpreters(tmp_path / "bin", "python3.11"))
    (empty_repo / "pyproject.toml").write_text(
        "[project]\nname = 'x'\nrequires-python = '>=3.13'\n"
    )
    res = run_cli(capsys, "--repo", str(empty_repo), "init")
    assert res.code == 0, res.err
    warned = [line for line in res.out.splitlines() if line.startswith("warning:")]
    (note,) = [line for line in warned if "requires Python" in line]
    assert "requires Python >=3.13" in note and "python3 is 3.11" in note
    assert "/usr/local" in note
    assert any("commands.start: not set" in line for line in warned), res.out
    last = res.out.splitlines()[-1]
    assert last.startswith("next: edit these files (and what the warnings above say)"), last
    setup = yaml.safe_load((empty_repo / "factory.yaml").read_text())["commands"]["setup"]
    assert setup.startswith("python3 -m venv .venv")  # unchanged: the warning says what to do
    # factory check repeats every warning init gave, while it holds
    checked = run_cli(capsys, "--repo", str(empty_repo), "check", "--json").json()["warnings"]
    assert all(line.removeprefix("warning: ") in checked for line in warned), (warned, checked)
    config = empty_repo / "factory.yaml"
    config.write_text(config.read_text().replace("  # start: ", "  start: "))
    checked = run_cli(capsys, "--repo", str(empty_repo), "check", "--json").json()["warnings"]
    assert not any("commands.start" in line for line in checked), checked
    # init again, factory.yaml kept as edited: its last line no longer asks for start
    again = run_cli(capsys, "--repo", str(empty_repo), "init").out
    assert "commands.start" not in again, again


UV_EXTRA = {  # a Flask app uv manages, its test runner in an optional extra
    "pyproject.toml": "[project]\nname = 'shop'\n[project.optional-dependencies]\n"
    "dev = ['pytest>=8', 'pytest-cov']\n",
    "uv.lock": "version = 1\n",
}
POETRY = {
    "pyproject.toml": "[tool.poetry]\nname = 'shop'\n[tool.poetry.group.test.dependencies]\n"
    "pytest = '^8'\n",
    "poetry.lock": "",
    "conftest.py": "",
}


@pytest.mark.parametrize(
    ("files", "installs"),
    [(UV_EXTRA, "uv sync -q --frozen --python python3 --extra dev"), (POETRY, "--with test")],
)
def test_init_installs_the_extra_or_group_that_holds_the_test_runner(
    empty_repo: Path, capsys, files: dict[str, str], installs: str
) -> None:
    write_files(empty_repo, files)
    assert run_cli(capsys, "--repo", str(empty_repo), "init").code == 0
    setup = yaml.safe_load((empty_repo / "factory.yaml").read_text())["commands"]["setup"]
    assert installs in setup, setup


def test_doctor_names_the_extra_a_missing_test_runner_is_in(tmp_path: Path) -> None:
    """A test run that could not import pytest: the check says where pyproject.toml has it."""
    from types import SimpleNamespace

    from harness.doctor import Check, _runner_missing

    write_files(tmp_path, UV_EXTRA)
    failed = Check("test", False, 0.1, "`.venv/bin/python -m pytest -q` exited 1",
                   "/repo/.venv/bin/python: No module named pytest\n")  # fmt: skip
    settings = SimpleNamespace(root=tmp_path)
    said = _runner_missing(settings, failed).detail  # type: ignore[arg-type]
    assert said.endswith(
        "pytest is in pyproject.toml's extra or group 'dev', not installed by setup"
    )
    assert _runner_missing(settings, Check("test", True, 0.1, "ok")) == Check(
        "test", True, 0.1, "ok"
    )  # type: ignore[arg-type]
