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
from typing import TYPE_CHECKING

from harness.paths import shipped_yaml

if TYPE_CHECKING:  # what a failed test said (``failed_said``) is read without the schema
    from harness.config.models import Commands

PLACEHOLDER = "{tests}"
_SHELL = re.compile(r"&&|\|\||[;|`\n]|\$\(|(?:^|\s)cd\s")
_TEST_SOURCES = (".py", ".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs", ".mts", ".cts")
KEPT = "[failed test] "  # how ``clipped`` writes each id it keeps
_UNITTEST = re.compile(r"^(?:FAIL|ERROR): (\S+) \(([\w.]+)\)", re.M)  # unittest, Django
_NAMED = (
    # pytest's summary: a parametrised id's brackets may hold spaces
    re.compile(r"^(?:FAILED|ERROR) (\S+::[^\s\[]+(?:\[.*?\])?)(?= - |\s*$)", re.M),
    re.compile(r"^\s*● (\S.*?)\s*$", re.M),  # jest, vitest
    # Django's parallel runner, on a failure whose traceback it cannot pickle
    re.compile(r"^\w+ \(([\w.]+)\) failed:$", re.M),
    re.compile(f"^{re.escape(KEPT)}(.+)$", re.M),
)
_RAN = re.compile(r"^Ran (\d+) tests? in \S+\s+(?:OK|FAILED)(?: \((.*)\))?", re.M)  # unittest
_SUMMED = re.compile(r"^(?:=+ |Tests: +)?(?:\d+ [a-z]+, )*\d+ (?:passed|failed|errors?)\b.*", re.M)
_TALLY = re.compile(r"(\d+) (passed|failed|error)")  # on pytest's last line, jest's "Tests:"


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


def failing_tests(output: str) -> list[str]:
    """The ids of the tests the runner's ``output`` says failed."""
    found = _UNITTEST.findall(output)
    ids = {where if where.endswith(f".{name}") else f"{where}.{name}" for name, where in found}
    return sorted(ids.union(*(pattern.findall(output) for pattern in _NAMED)))


def clipped(output: str, limit: int) -> str:
    """The end of a runner's ``output`` (``limit`` characters, where runners sum up), led by
    the ids of the tests it says failed wherever the cut would lose one, so that they survive
    this cut and every later one of its result."""
    if len(output) <= limit:
        return output
    kept = "".join(f"{KEPT}{name[:300]}\n" for name in failing_tests(output)[:50])
    cut = len(output) - limit
    return f"{kept}[the first {cut:,} characters of the output are not shown]\n{output[cut:]}"


def failed_said(output: str, shown: int = 10) -> str:
    """``; failed: <id>, …`` — the tests the runner's ``output`` says failed, for a gate's
    evidence (the first ``shown``, and how many more); "" when it names none."""
    ids = failing_tests(output)
    return f"; failed: {', '.join(ids[:shown])}{' …' * (len(ids) > shown)}" if ids else ""


def counted(output: str) -> tuple[int, int]:
    """(how many tests ran, how many of them failed), as the runner's summary says: unittest
    and Django's ``Ran N tests`` with its ``FAILED (failures=…, errors=…)``, pytest's last
    line, jest's and vitest's ``Tests:``; (0, 0) when it says none ran, or nothing."""
    if found := _RAN.findall(output):
        total, said = found[-1]
        tally = dict(re.findall(r"(\w+)=(\d+)", said))
        ran = int(total) - int(tally.get("skipped", 0))
        return ran, int(tally.get("failures", 0)) + int(tally.get("errors", 0))
    tally = {word: n for n, word in _TALLY.findall((_SUMMED.findall(output) or [""])[-1])}
    failed = int(tally.get("failed", 0)) + int(tally.get("error", 0))
    return int(tally.get("passed", 0)) + failed, failed
