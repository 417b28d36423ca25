"""The suite's bytecode, written once before xdist's workers start (a pytest plugin, loaded by
``tests/conftest.py``). A checkout's first run has none: the harness's, the benchmarks' and
the tests' modules are compiled here, all but the test modules whose asserts pytest rewrites
(its cache of those is its own, written by its private functions: left to it). The workers
start together and collect the same modules in the same order, so each would compile every
one of them itself; the process that starts them writes each once, and they read it. What is
already written and current is read, not written again; nothing is written when Python is
told not to (``PYTHONDONTWRITEBYTECODE``)."""

from __future__ import annotations

import compileall
import fnmatch
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
COMPILED = ("harness", "benchmarks", "tests")


class Rewritten:
    """The modules pytest imports with its asserts rewritten (``compile_dir``'s ``rx``: the
    ones it leaves to pytest)."""

    def __init__(self, config: pytest.Config) -> None:
        self.patterns = [*config.getini("python_files"), "conftest.py"]

    def search(self, path: str) -> bool:
        return any(fnmatch.fnmatch(Path(path).name, p) for p in self.patterns)


@pytest.hookimpl(trylast=True)  # after the run's CPU clock started (tests/costs.py): counted
def pytest_configure(config: pytest.Config) -> None:
    workers = getattr(config.option, "numprocesses", None)
    if hasattr(config, "workerinput") or not workers or sys.dont_write_bytecode:
        return
    rewritten = Rewritten(config)
    for folder in COMPILED:
        compileall.compile_dir(ROOT / folder, quiet=1, rx=rewritten)
