"""Chosen tests run alone (``commands.test_files``): the command that runs the given test
paths or ids, from factory.yaml's template or, when it states none, from the runner
``commands.test`` names (``workflows/testing/runners.yaml``: pytest, Django's ``manage.py
test``, unittest, jest, vitest). No template fits: None, and the caller runs the whole
suite. The fails-before proof, ``run_tests`` with a subset, a backtest's hidden tests on the
fix's parent and heal's re-run of failing tests all ask here."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from functools import lru_cache

from harness.config.models import Commands
from harness.paths import shipped_yaml

PLACEHOLDER = "{tests}"
_SHELL = re.compile(r"&&|\|\||[;|`\n]|\$\(|(?:^|\s)cd\s")
_TEST_SOURCES = (".py", ".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs", ".mts", ".cts")


@lru_cache(maxsize=1)
def runners() -> tuple[tuple[re.Pattern[str], str, str], ...]:
    """(what ``commands.test`` must start with, the template, how paths are written)."""
    data = shipped_yaml("testing", "runners.yaml")
    return tuple((re.compile(r["match"]), r["template"], r["ids"]) for r in data["runners"])


def template(commands: Commands) -> tuple[str, str] | None:
    """(the template with ``{tests}``, how it writes paths): ``commands.test_files`` (paths as they
    are), or the first runner that fits ``commands.test``; None when none does."""
    test = commands.test
    if commands.test_files:
        return commands.test_files, "path"
    if _SHELL.search(test):
        return None
    for match, form, ids in runners():
        if found := match.match(test.strip()):
            return form.replace("{run}", found["run"]), ids
    return None


def written(test: str, ids: str) -> str:
    """One test path or id as the runner takes it, quoted for the shell."""
    is_file = "::" not in test and test.endswith(_TEST_SOURCES)
    if is_file and ids == "module":
        test = test.removeprefix("./").rsplit(".", 1)[0].replace("/", ".")
    elif is_file and test.startswith("-"):
        test = f"./{test}"  # a path, never an option
    return shlex.quote(test)


def test_files(commands: Commands, tests: Sequence[str]) -> str | None:
    """The shell command that runs exactly ``tests`` (test file paths relative to the
    repository, or the runner's own ids), or None: no template fits, or no tests given (the
    caller runs the whole suite, ``commands.test``)."""
    found = template(commands)
    if found is None or not tests:
        return None
    form, ids = found
    return form.replace(PLACEHOLDER, " ".join(written(t, ids) for t in tests))
