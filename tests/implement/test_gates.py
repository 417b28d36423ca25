"""The protected-paths gate reads globs as ``factory check`` does, and never less strictly."""

from __future__ import annotations

from pathlib import Path

from harness.config.globs import protected_hits
from harness.git.repo import GitRepo
from harness.implement.gates import protected_paths_gate, secrets_gate, size_gate


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


def test_size_gate_counts_bytes_from_the_object_database(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path / "r", "main")
    (repo.path / "grow.txt").write_text("x" * 1000)
    (repo.path / "gone.txt").write_text("y" * 5000)
    (repo.path / ".gitattributes").write_text("*.bin -diff\n")
    base = repo.commit_all("base")
    assert base is not None
    (repo.path / "grow.txt").write_text("x" * 3000)  # grows by 2,000 bytes
    (repo.path / "gone.txt").unlink()  # deletions add nothing
    (repo.path / "blob.dat").write_bytes(bytes(range(256)) * 40)  # 10,240 bytes, binary
    head = repo.commit_all("change")
    assert head is not None
    changes = {c.path: c for c in repo.file_changes(base, head)}
    assert set(changes) == {"grow.txt", "gone.txt", "blob.dat"}
    assert (changes["grow.txt"].status, changes["grow.txt"].added_bytes) == ("M", 2000)
    assert (changes["gone.txt"].status, changes["gone.txt"].new_size) == ("D", 0)
    assert changes["blob.dat"].binary and not changes["grow.txt"].binary
    assert (changes["blob.dat"].added_lines, changes["gone.txt"].deleted_lines) == (1, 1)

    ok = size_gate(list(changes.values()), max_added_bytes=20_000, max_file_bytes=20_000)
    assert ok.passed and ok.evidence.startswith("12,240 bytes added (limit 20,000)")
    assert "binary files: blob.dat (10.2 kB)" in ok.evidence
    total = size_gate(list(changes.values()), max_added_bytes=12_000, max_file_bytes=20_000)
    assert not total.passed
    one = size_gate(list(changes.values()), max_added_bytes=20_000, max_file_bytes=10_000)
    assert not one.passed and "files over 10,000 bytes: blob.dat (10.2 kB)" in one.evidence


def test_non_ascii_names_are_read_exactly_and_matched(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path / "r", "main")
    (repo.path / "a.txt").write_text("a\n")
    base = repo.commit_all("base")
    workflows = repo.path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "ci-é.yml").write_text("on: push\n")
    (repo.path / "tab\tand\nnewline.txt").write_text("x\n")
    (repo.path / "Cafe\u0301.md").write_text("x\n")  # NFD: e + combining acute
    head = repo.commit_all("change")
    assert base is not None and head is not None
    paths = repo.changed_paths(base, head)
    assert paths == sorted([".github/workflows/ci-é.yml", "tab\tand\nnewline.txt", "Cafe\u0301.md"])
    changes = repo.file_changes(base, head)
    assert {c.path for c in changes} == set(paths)
    # a name holding a tab or starting with ':' is read whole, with its lines
    assert {(c.path, c.added_lines, c.deleted_lines) for c in changes} == {(p, 1, 0) for p in paths}
    (repo.path / ":colon.txt").write_text("1\n2\n")
    (repo.path / "a.txt").write_text("b\n")
    again = repo.commit_all("more")
    assert again is not None
    lines = {c.path: (c.added_lines, c.deleted_lines) for c in repo.file_changes(head, again)}
    assert lines == {":colon.txt": (2, 0), "a.txt": (1, 1)}
    assert set(repo.changed_paths(head, again)) == set(lines)
    gate = protected_paths_gate(paths, [".github/**", "café.md"])
    assert not gate.passed
    assert ".github/workflows/ci-é.yml (matches .github/**)" in gate.evidence
    assert "Cafe\u0301.md (matches café.md)" in gate.evidence
