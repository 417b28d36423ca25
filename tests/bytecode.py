"""The suite's bytecode, written once before xdist's workers start (a pytest plugin, loaded by
``tests/conftest.py``). A checkout's first run has none: the harness's modules, the
benchmarks' and the tests' helpers compiled, the test modules with their asserts rewritten
(pytest's own cache of them, beside each module). The workers start together and collect the
same modules in the same order, so each would compile every one of them itself (three
seconds of CPU a worker); the process that starts them writes each once, and they read it.
What is already written and current is read, not written again; nothing is written when
Python is told not to (``PYTHONDONTWRITEBYTECODE``)."""

from __future__ import annotations

import compileall
import contextlib
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
    # the test modules: pytest's cache of their rewritten asserts, as its own import writes it
    with contextlib.suppress(ImportError, AttributeError, KeyError):
        from _pytest.assertion import rewrite

        state = config.stash[rewrite.assertstate_key]
        for module in sorted((ROOT / "tests").rglob("*.py")):
            if not rewritten.search(str(module)):
                continue
            cache = rewrite.get_cache_dir(module)
            pyc = cache / (module.name[:-3] + rewrite.PYC_TAIL)
            if rewrite._read_pyc(module, pyc) is None and rewrite.try_makedirs(cache):
                source_hash, code = rewrite._rewrite_test(module, config)
                rewrite._write_pyc(state, code, source_hash, pyc)
