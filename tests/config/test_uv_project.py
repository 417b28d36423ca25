"""A project uv manages, its test runner in an optional extra (``[project.optional-dependencies]
dev``), as a maintainer meets the factory: ``init``, the one edit init asks for
(``commands.start``, its own hint uncommented), then ``doctor``. Setup is init's uv recipe
as written, against the real PyPI through the egress proxy (uv itself from PyPI, then the
versions ``uv.lock`` pins): the extra that holds pytest is installed, the tests run, the app
serves, the starter journey passes in Chromium, and doctor exits 0."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import git

pytestmark = [
    pytest.mark.slow,
    pytest.mark.sandbox,
    pytest.mark.browser,
    pytest.mark.timeout(900),
]

LOCK = Path(__file__).with_name("uv_shop.lock")  # `uv lock` of PYPROJECT: pytest and its needs
PYPROJECT = """[project]
name = "shop"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = []

[project.optional-dependencies]
dev = ["pytest"]
"""
APP = '''"""The shop's page, served on the port it is given."""
import argparse
from http.server import BaseHTTPRequestHandler, HTTPServer


class Page(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<!doctype html><title>Shop</title><h1>Shop</h1>")


parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
HTTPServer(("127.0.0.1", parser.parse_args().port), Page).serve_forever()
'''
FILES = {
    "pyproject.toml": PYPROJECT,
    "shop/__init__.py": "",
    "shop/__main__.py": APP,
    "tests/test_shop.py": "import shop\n\n\ndef test_the_package_imports():\n    assert shop\n",
}


def test_a_uv_project_with_pytest_in_an_extra_passes_doctor_after_inits_one_edit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "shop"
    for rel, text in FILES.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    shutil.copy(LOCK, repo / "uv.lock")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "shop")

    init = run_cli(capsys, "--repo", str(repo), "init", "--provider", "scripted")
    assert init.code == 0 and "project: Python (uv.lock)" in init.out, init.out + init.err
    config = repo / "factory.yaml"
    # the one edit init asks for: its start hint, uncommented
    text, edits = re.subn(r"^  # start: ", "  start: ", config.read_text(), flags=re.M)
    assert edits == 1
    config.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "factory governance")

    doctor = run_cli(capsys, "--repo", str(repo), "doctor", "--json")
    checks = {c["name"]: c for c in doctor.json()["checks"]}
    assert checks["setup"]["passed"], checks["setup"]
    assert checks["test"]["passed"] and "1 passed" in checks["test"]["output"], checks["test"]
    assert checks["start"]["passed"] and checks["journey: home"]["passed"], checks
    assert doctor.code == 0, doctor.out
