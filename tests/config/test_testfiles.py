"""``commands.test_files``: chosen tests alone, through factory.yaml's template or the one
made from the runner ``commands.test`` names; the whole suite when no template fits."""

from __future__ import annotations

import os
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
    # the suite's own options (PYTEST_ADDOPTS, e.g. --record-module-costs) are not this pytest's
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    run = {"shell": True, "cwd": tmp_path, "capture_output": True, "text": True, "env": env}
    whole = subprocess.run(commands.test, **run)
    chosen = subset(commands, ["tests/test_good.py"])
    assert chosen is not None
    alone = subprocess.run(chosen, **run)
    assert whole.returncode != 0
    assert alone.returncode == 0, alone.stdout + alone.stderr


# Django 5.2's `manage.py test --parallel 2`, without tblib, two tests failing: captured from a
# real run (paths shortened). Its tail names no test: "TypeError: cannot pickle 'traceback'"
DJANGO_PARALLEL = (Path(__file__).parent / "runner_output" / "django_parallel.txt").read_text()
DJANGO_FAILED = [
    "notes.tests.test_count.CountTest.test_heading_counts_notes",
    "notes.tests.test_other.OtherTest.test_two",
]


def test_the_failed_ids_of_djangos_parallel_runner_survive_every_cut() -> None:
    from harness.backtest.grade import MAX_OUTPUT
    from harness.config.testfiles import clipped, failed_said, failing_tests
    from harness.implement.feedback import MAX_TEST_OUTPUT
    from harness.implement.gates import tests_gate
    from harness.validate.actions import MAX_TESTS_OUTPUT

    assert failing_tests(DJANGO_PARALLEL) == DJANGO_FAILED
    assert "cannot pickle 'traceback'" in DJANGO_PARALLEL[-200:]  # what a tail alone keeps
    kept = DJANGO_PARALLEL
    for limit in (20_000, MAX_TESTS_OUTPUT, MAX_TEST_OUTPUT, MAX_OUTPUT, 300):  # cut on cut
        kept = clipped(kept, limit)
        assert failing_tests(kept) == DJANGO_FAILED, limit
    assert failed_said(kept) == "; failed: " + ", ".join(DJANGO_FAILED)
    from harness.artifacts import Tested

    tested = Tested(
        command="python manage.py test --parallel 2", exit_code=1, output=kept, tree="t"
    )
    assert DJANGO_FAILED[1] in tests_gate(tested, "t").evidence


def test_the_runners_summary_says_how_many_tests_ran_and_failed() -> None:
    from harness.config.testfiles import counted

    assert counted("..F\n1 failed, 2 passed in 0.05s\n") == (3, 1)
    assert counted("===== 1 skipped, 2 passed, 1 warning in 0.1s =====") == (2, 0)
    assert counted("Ran 4 tests in 0.01s\n\nFAILED (failures=1, errors=1, skipped=1)\n") == (3, 2)
    assert counted("Ran 2 tests in 0.001s\n\nOK\n") == (2, 0)
    assert counted("Tests:       1 failed, 3 passed, 4 total") == (4, 1)
    assert counted("no tests ran in 0.01s") == counted("Ran 0 tests in 0.000s\n\nOK") == (0, 0)
    assert counted(DJANGO_PARALLEL) == (0, 0)  # it never summed up
