"""For a scenario a module's tests share (a module-scoped fixture plays it once, and each test
asserts its own property of what it left): the environment the autouse ``_isolated_env`` gives
a test, and what ``run_cli`` reads of ``capsys`` — both a test's own, so not there for a
fixture wider than one test."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import SCRUBBED_ENV

MARKER_KEY = "test-marker-key-0f3c9a"  # the repository secret the autouse fixture sets


@contextmanager
def isolated_env(state: Path, **extra: str) -> Iterator[pytest.MonkeyPatch]:
    """The process environment of a test whose state folder is ``state``, plus ``extra``,
    while the scenario plays; the environment as it was afterwards."""
    with pytest.MonkeyPatch.context() as mp:
        for name in SCRUBBED_ENV:
            mp.delenv(name, raising=False)
        mp.setenv("FACTORY_STATE_DIR", str(state))
        mp.setenv("FACTORY_MARKER_KEY", MARKER_KEY)
        for role in ("AUTHOR", "COMMITTER"):
            mp.setenv(f"GIT_{role}_NAME", "Test Maintainer")
            mp.setenv(f"GIT_{role}_EMAIL", "maintainer@example.invalid")
        for name, value in extra.items():
            mp.setenv(name, value)
        yield mp


class Output:
    """Stands in for ``capsys`` where ``run_cli`` takes it: while open, the standard streams
    write to buffers; ``readouterr`` hands over what was written since the last read."""

    def __init__(self) -> None:
        self._out, self._err = io.StringIO(), io.StringIO()
        self._saved = (sys.stdout, sys.stderr)

    def __enter__(self) -> Output:
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = self._out, self._err
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout, sys.stderr = self._saved

    def readouterr(self) -> tuple[str, str]:
        out, err = self._out.getvalue(), self._err.getvalue()
        for buffer in (self._out, self._err):
            buffer.seek(0)
            buffer.truncate()
        return out, err
