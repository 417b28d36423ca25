"""The protected-paths gate reads globs as ``factory check`` does, and never less strictly."""

from __future__ import annotations

from harness.config.globs import protected_hits
from harness.implement.gates import protected_paths_gate, secrets_gate


def test_protected_globs() -> None:
    patterns = ["docs/", "mission.md", ".github/**", "src/a[!0-9].py"]
    paths = [
        "docs/a.md",
        "mission.md",
        "x/mission.md",
        ".GITHUB/w.yml",
        "src/a1.py",
        "src/ab.py",
        "app.py",
    ]
    hits = {path for path, _ in protected_hits(paths, patterns)}
    assert hits == {"docs/a.md", "mission.md", "x/mission.md", ".GITHUB/w.yml", "src/ab.py"}


def test_gate_and_check_read_a_bare_folder_alike() -> None:
    gate = protected_paths_gate(["tests/test_app.py", "app.py"], ["tests"])
    assert not gate.passed and "tests/test_app.py (matches tests)" in gate.evidence
    assert protected_paths_gate(["app.py"], ["tests"]).passed


def test_secret_patterns_in_added_lines_only() -> None:
    assert secrets_gate("+print('hi')\n-OLD=sk-ant-" + "a" * 30).passed is True
    assert secrets_gate("+KEY='sk-ant-" + "a" * 30 + "'").passed is False
