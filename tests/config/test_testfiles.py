"""``commands.test_files``: chosen tests alone, through factory.yaml's template or the one
made from the runner ``commands.test`` names; the whole suite when no template fits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.config.models import Commands
from harness.config.testfiles import test_files as subset

CHOSEN = ["tests/test_a.py", "app/tests/test_b.py::test_x", "app.tests.TestX.test_y"]


@pytest.mark.parametrize(
    ("suite", "expected"),
    [
        (
            "pytest -q",
            "pytest -q tests/test_a.py app/tests/test_b.py::test_x app.tests.TestX.test_y",
        ),
        (
            ".venv/bin/python -m pytest -p no:cacheprovider -x tests/",
            ".venv/bin/python -m pytest -p no:cacheprovider -x tests/test_a.py "
            "app/tests/test_b.py::test_x app.tests.TestX.test_y",
        ),
        (
            "python3 -m unittest discover -s tests",
            "python3 -m unittest tests.test_a app/tests/test_b.py::test_x app.tests.TestX.test_y",
        ),
        (
            "python manage.py test --settings site.test -v 2 app",
            "python manage.py test --settings site.test -v 2 tests.test_a "
            "app/tests/test_b.py::test_x app.tests.TestX.test_y",
        ),
        (
            "npx vitest run",
            "npx vitest run tests/test_a.py app/tests/test_b.py::test_x app.tests.TestX.test_y",
        ),
        (
            "npm test",
            "npm test -- tests/test_a.py app/tests/test_b.py::test_x app.tests.TestX.test_y",
        ),
        ("make test", None),  # no runner named: the whole suite
        ("cd app && pytest", None),  # paths would be read from another folder
        ("pytest | tee out.txt", None),
    ],
)
def test_the_template_is_made_from_the_runner_commands_test_names(
    suite: str, expected: str | None
) -> None:
    assert subset(Commands(test=suite), CHOSEN) == expected


def test_a_stated_template_wins_and_every_test_is_quoted_for_the_shell() -> None:
    commands = Commands(test="make test", test_files="make check ONLY={tests}")
    assert subset(commands, ["a b.py", "$(boom).py"]) == "make check ONLY='a b.py' '$(boom).py'"
    assert subset(Commands(test="pytest"), ["-x/test_a.py"]) == "pytest ./-x/test_a.py"
    assert subset(commands, []) is None  # nothing chosen: the whole suite
    with pytest.raises(ValidationError, match=r"must contain \{tests\}"):
        Commands(test="pytest", test_files="pytest -q")


@pytest.mark.parametrize(
    "suite", ["{python} -m pytest -q -p no:cacheprovider", "{python} -m unittest"]
)
def test_the_command_runs_only_the_chosen_tests(tmp_path: Path, suite: str) -> None:
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "__init__.py").write_text("")
    (tests / "test_good.py").write_text(
        "import unittest\n\nclass T(unittest.TestCase):\n    def test_ok(self):\n        pass\n"
    )
    (tests / "test_bad.py").write_text(
        "import unittest\n\nclass T(unittest.TestCase):\n"
        "    def test_no(self):\n        self.fail('ran')\n"
    )
    commands = Commands(test=suite.format(python=sys.executable))
    whole = subprocess.run(commands.test, shell=True, cwd=tmp_path, capture_output=True)
    chosen = subset(commands, ["tests/test_good.py"])
    assert chosen is not None
    alone = subprocess.run(chosen, shell=True, cwd=tmp_path, capture_output=True, text=True)
    assert whole.returncode != 0
    assert alone.returncode == 0, alone.stdout + alone.stderr
