"""One ``factory demo`` a test process, through the real command line: ``tests/test_demo.py``
reads what it printed, the store's scale tests copy its rows (``conftest.demo_rows``), and the
dashboard's tests (``tests/serve/conftest.py``) take it further, in place. The cycle is the
costly part (apps in sandboxes, browsers, sealed validators), and all of them read the same
one: their modules are marked ``together("demo-cycle")``, so they run on one worker and the
demo runs once there. It runs in a process of its own, as ``make demo`` runs it, with its
``TMPDIR`` outside ``/tmp`` (in ``/var/tmp``, where the browsers' profiles are named by
Playwright's driver, which takes the ``TMPDIR`` of the process it starts in) and, as its state
folder, 100 characters long, where the seal's sockets must still fit
(``tests/validate/test_seal_sockets.py``)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.conftest import SCRUBBED_ENV

IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Maintainer",
    "GIT_AUTHOR_EMAIL": "maintainer@example.invalid",
    "GIT_COMMITTER_NAME": "Test Maintainer",
    "GIT_COMMITTER_EMAIL": "maintainer@example.invalid",
}


@dataclass(frozen=True)
class DemoRun:
    """``factory demo --dir ROOT --json``: its exit code and what it printed, and ``pristine``,
    a copy of ``ROOT`` taken as the command ended. The dashboard's tests go on in ``ROOT``
    itself (the evidence the pages show is found by the absolute paths the runs recorded);
    whoever else changes the demo's state works on a copy of ``pristine``."""

    root: Path
    pristine: Path
    tmpdir: Path  # its ``TMPDIR`` (in ``/var/tmp``; gone once the demo ended)
    code: int
    out: str
    err: str
    # as root: the folders on tmpfs older versions named by a hash of the state's path, made
    # first by another uid (0755), and whether anything was made or removed in each since
    squatted: dict[str, bool]

    def json(self) -> Any:
        try:
            return json.loads(self.out)
        except json.JSONDecodeError:  # say what the command said instead
            raise AssertionError(f"exit {self.code}, no JSON; stderr: {self.err[-2000:]}") from None


SQUATTER = 4242  # another account of the host
LONG = 100  # the length of the demo's ``TMPDIR`` and of its state folder's path


def long_folder(root: Path, name: str, length: int = LONG) -> Path:
    """A folder under ``root`` whose path is ``length`` characters long."""
    path = root / name
    path = Path(f"{path}{'x' * (length - len(str(path)))}")
    path.mkdir(parents=True)
    assert len(str(path)) == length
    return path


def _squat(state: Path) -> dict[Path, int]:
    """As root: what another account can do to a name it can guess, made before the demo;
    each folder's modification time (what an entry made or removed in it changes)."""
    if os.geteuid() != 0:
        return {}
    tag = hashlib.sha256(str(state.resolve()).encode()).hexdigest()[:12]
    made = {}
    for end in ("", "-fresh", "-setups"):
        folder = Path(f"/dev/shm/factory-{tag}{end}")
        folder.mkdir(mode=0o755)
        os.chown(folder, SQUATTER, SQUATTER)
        made[folder] = folder.stat().st_mtime_ns
    return made


class _Made:
    """The worker's one demo, or how making it failed: made once, whatever became of it."""

    runs: ClassVar[dict[Path, DemoRun | BaseException]] = {}


def _demo_in(base: Path) -> DemoRun:
    """The demo made once for the worker (``base``: its temporary folder). A try that fails
    (say, stopped by its time limit) is kept as it failed: the tests after it fail with its
    cause at once, and never find its half-made folders (each try has a folder of its own)."""
    if base not in _Made.runs:
        try:
            _Made.runs[base] = _made(Path(tempfile.mkdtemp(prefix="demo-cycle-", dir=base)))
        except BaseException as exc:
            _Made.runs[base] = exc
            raise
    made = _Made.runs[base]
    if isinstance(made, BaseException):
        raise RuntimeError(f"the worker's demo failed earlier: {made!r}") from made
    return made


def _made(base: Path) -> DemoRun:
    outside = Path(tempfile.mkdtemp(prefix="demo-cycle-", dir="/var/tmp"))
    temp = long_folder(outside, "tmp")
    root = long_folder(base, "demo", LONG - len("/notes/.factory"))
    root.rmdir()  # the demo makes its folder
    squatted = _squat(root / "notes" / ".factory")  # where the demo keeps its state
    # offline, with the scripted model, as 'make demo' runs it: none of the test's settings
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "harness", "demo", "--dir", str(root), "--json"],
            env={**env, **IDENTITY, "TMPDIR": str(temp)},
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        shutil.rmtree(outside, ignore_errors=True)
    pristine = base / "pristine"
    if root.exists():  # copied under another name, then put in place whole
        shutil.copytree(root, base / "pristine.part", symlinks=True)
        (base / "pristine.part").rename(pristine)
    used = {str(folder): folder.stat().st_mtime_ns != at for folder, at in squatted.items()}
    for folder in squatted:
        shutil.rmtree(folder)
    return DemoRun(
        root.resolve(), pristine.resolve(), temp, done.returncode, done.stdout, done.stderr, used
    )


def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The process's one demo (run on first use, in the session's temporary folder)."""
    return _demo_in(tmp_path_factory.getbasetemp())
