"""The wheel carries workflows/ and validators/ as package data and works from a fresh venv."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_wheel_installs_and_runs_from_a_fresh_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "harness/workflows/triage.yaml" in names
    assert "harness/workflows/init/mission.md.j2" in names
    assert "harness/sandbox/syscalls.yaml" in names  # the seccomp filter's data
    assert any(n.startswith("harness/validators/") for n in names)
    assert not any(
        n.startswith(("workflows/", "validators/")) for n in names
    )  # no top-level shadowing

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    site = Path(
        sysconfig.get_path("purelib", vars={"base": str(env_dir), "platbase": str(env_dir)})
    )
    # dependencies come from the test environment; the harness itself only from the wheel
    deps = Path(sysconfig.get_path("purelib"))
    (site / "deps.pth").write_text(str(deps) + "\n")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    python = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    where = subprocess.run(
        [str(python), "-c", "import harness, sys; print(harness.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    ).stdout.strip()
    assert where.startswith(str(site)), where

    help_out = subprocess.run(
        [str(python), "-m", "harness", "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert help_out.returncode == 0 and "triage" in help_out.stdout

    repo = tmp_path / "target"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    init = subprocess.run(
        [str(python), "-m", "harness", "init"], capture_output=True, text=True, env=env, cwd=repo
    )
    assert init.returncode == 0, init.stderr
    assert "## Out of scope" in (repo / "mission.md").read_text()
