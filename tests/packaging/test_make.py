"""``make install`` is idempotent: run twice, the second run installs nothing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(900)
@pytest.mark.skipif(
    not (ROOT / ".venv" / ".installed").exists() or shutil.which("make") is None,
    reason="runs after 'make install' (as 'make test' does)",
)
def test_make_install_twice_does_nothing_the_second_time() -> None:
    first = subprocess.run(["make", "install"], cwd=ROOT, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    question = subprocess.run(
        ["make", "-q", ".venv/.installed", ".venv/.system"], cwd=ROOT, capture_output=True
    )
    assert question.returncode == 0, "make install would do work again"
    again = subprocess.run(["make", "install"], cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0
    assert "pip" not in again.stdout and "apt-get" not in again.stdout
