"""A newcomer's small Python project, as ``factory init`` finds it: packaged with a
``setup.py`` only, its package serving a page with ``python -m notes --port N``, one test.

The commands ``init`` writes install from a package index; tests send nothing off this
machine. So the project does what an offline project does: its ``requirements-dev.txt``
(which ``init`` installs with ``-r``) says ``--no-index --find-links wheelhouse``, and
``wheelhouse/`` holds the wheels of the test runner and of the build backend, packed from
the environment running these tests. The commands themselves are ``init``'s, unedited.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import io
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import SCRUBBED_ENV, git

# pytest and what it needs on Python 3.11, and setuptools for pip's isolated build of setup.py
WHEELS = ("pytest", "pluggy", "iniconfig", "packaging", "pygments", "setuptools")
SKIPPED = ("INSTALLER", "REQUESTED", "direct_url.json", "RECORD")

APP = '''"""A tiny notes page."""
import argparse
from http.server import BaseHTTPRequestHandler, HTTPServer

from notes import page


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(page())


parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
HTTPServer(("127.0.0.1", parser.parse_args().port), Handler).serve_forever()
'''
FILES = {
    "setup.py": 'from setuptools import setup\n\nsetup(name="notes", version="0.1", '
    'packages=["notes"])\n',
    "notes/__init__.py": 'def page() -> bytes:\n    return b"<html><body><h1>Notes</h1>'
    '</body></html>"\n',
    "notes/__main__.py": APP,
    "tests/test_notes.py": "from notes import page\n\n\ndef test_page():\n"
    "    assert b'Notes' in page()\n",
    "requirements-dev.txt": "# offline: everything comes from the wheelhouse\n--no-index\n"
    "--find-links wheelhouse\n",
}


def pack_wheel(name: str, target: Path) -> Path:
    """The installed distribution ``name`` as a wheel (pure Python ones only)."""
    dist = importlib.metadata.distribution(name)
    files = list(dist.files or [])
    info = next(f.parts[0] for f in files if f.parts[0].endswith(".dist-info"))
    site = Path(str(dist.locate_file("")))
    wheel = target / f"{info.removesuffix('.dist-info')}-py3-none-any.whl"
    rows: list[str] = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as packed:
        for file in files:
            rel = file.as_posix()
            if rel.startswith("..") or "__pycache__" in rel or file.name in SKIPPED:
                continue
            data = (site / rel).read_bytes()
            packed.writestr(rel, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            rows.append(f"{rel},sha256={digest.decode()},{len(data)}")
        rows.append(f"{info}/RECORD,,")
        packed.writestr(f"{info}/RECORD", "\n".join(rows) + "\n")
    return wheel


def wheelhouse(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in WHEELS:
        pack_wheel(name, folder)
    return folder


def newcomer_project(root: Path, wheels: Path) -> Path:
    """The project, committed on ``main`` in ``root / "notes"``."""
    repo = root / "notes"
    for rel, text in FILES.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    (repo / "wheelhouse").mkdir()
    for wheel in wheels.glob("*.whl"):
        (repo / "wheelhouse" / wheel.name).write_bytes(wheel.read_bytes())
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "notes")
    return repo


@contextmanager
def newcomer_env(state: Path) -> Iterator[None]:
    """The environment a test gets (``tests/conftest.py``'s ``_isolated_env``) with ``state``
    as its state folder, for a scenario several tests read."""
    with pytest.MonkeyPatch.context() as mp:
        for name in SCRUBBED_ENV:
            mp.delenv(name, raising=False)
        mp.setenv("FACTORY_STATE_DIR", str(state))
        mp.setenv("FACTORY_MARKER_KEY", "test-marker-key-0f3c9a")
        for role in ("AUTHOR", "COMMITTER"):
            mp.setenv(f"GIT_{role}_NAME", "Test Maintainer")
            mp.setenv(f"GIT_{role}_EMAIL", "maintainer@example.invalid")
        yield


class Output:
    """Stands in for ``capsys`` where ``run_cli`` takes it, in a fixture that outlives a
    test: while open, the standard streams write to buffers; ``readouterr`` hands over what
    was written since the last read."""

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
