"""The protected-paths gate reads globs as ``factory check`` does, and never less strictly."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.git.repo import GitRepo
from harness.globs import protected_hits
from harness.implement.gates import (
    network_allow_gate,
    protected_paths_gate,
    secrets_gate,
    setup_code_gate,
    size_gate,
)


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
    changes = {c.path: c for c in repo.change(base, head)[0]}
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
    changes = repo.change(base, head)[0]
    assert {c.path for c in changes} == set(paths)
    # a name holding a tab or starting with ':' is read whole, with its lines
    assert {(c.path, c.added_lines, c.deleted_lines) for c in changes} == {(p, 1, 0) for p in paths}
    (repo.path / ":colon.txt").write_text("1\n2\n")
    (repo.path / "a.txt").write_text("b\n")
    again = repo.commit_all("more")
    assert again is not None
    lines = {c.path: (c.added_lines, c.deleted_lines) for c in repo.change(head, again)[0]}
    assert lines == {":colon.txt": (2, 0), "a.txt": (1, 1)}
    assert set(repo.changed_paths(head, again)) == set(lines)
    gate = protected_paths_gate(paths, [".github/**", "café.md"])
    assert not gate.passed
    assert ".github/workflows/ci-é.yml (matches .github/**)" in gate.evidence
    assert "Cafe\u0301.md (matches café.md)" in gate.evidence


PYPI = ["pypi.org", "files.pythonhosted.org"]


def _patch(files: dict[str, str]) -> str:
    """A ``git diff`` that adds ``files`` (path -> text)."""
    return "".join(
        f"diff --git a/{p} b/{p}\nnew file mode 100644\n--- /dev/null\n+++ b/{p}\n@@ -0,0 +1 @@\n"
        + "".join(f"+{line}\n" for line in text.splitlines())
        for p, text in files.items()
    )


@pytest.mark.parametrize(
    ("files", "allow", "said"),
    [
        ({"package.json": "{}"}, ["pypi.org"], "package.json calls for registry.npmjs.org"),
        ({"web/Gemfile": "gem 'x'"}, [], "web/Gemfile calls for rubygems.org"),
        ({"requirements.txt": "--extra-index-url https://x.example/\nsix"}, None, "--extra"),
        ({"requirements/dev.txt": "six @ https://x.example/six.whl"}, None, "six @ https"),
        ({".npmrc": "registry=https://npm.example/"}, None, ".npmrc adds `registry="),
        ({"Gemfile": "source 'https://gems.example'"}, None, "Gemfile adds `source"),
        ({"pyproject.toml": "[[tool.uv.index]]\nurl = 'https://x'"}, None, "tool.uv.index"),
        ({"Cargo.toml": '[patch.crates-io]\nx = { git = "https://x" }'}, None, "[patch"),
        ({"package.json": "{}", "requirements.txt": "six==1.16"}, ["*.npmjs.org", *PYPI], None),
        ({"app.py": "URL = 'https://registry.example/'"}, [], None),
    ],
)
def test_a_change_that_would_widen_setups_network_waits_for_a_person(
    files: dict[str, str], allow: list[str] | None, said: str | None
) -> None:
    allow = allow if allow is not None else PYPI
    gate = network_allow_gate(list(files), _patch(files), allow)
    assert gate.name == "network_allow" and gate.passed is (said is None), gate
    assert said is None or said in gate.evidence, gate.evidence


def test_what_setup_reads_is_first_what_its_command_names_and_the_inputs() -> None:
    """The static first answer: the files ``commands.setup`` names and the set-up inputs; a
    change to any of them changes what set-up reads. What set-up was seen to read (a list a
    script passes to pip, a script it runs) is the trace's: ``setup_code_seen`` at validation
    (``tests/sandbox/test_setup_observed.py``)."""
    setup = "python3 -m venv .venv && ./tools/setup.sh --fast; python3 hook.py"
    inputs = ["requirements*.txt", "package.json", "pyproject.toml"]
    named = ("tools/setup.sh", "hook.py", "requirements.txt", "web/package.json")
    for path in (*named, "pyproject.toml"):
        gate = setup_code_gate(["app.py", path], inputs, setup)
        assert not gate.passed and gate.evidence == f"changes what setup runs: {path}"
    assert setup_code_gate(["app.py", "tools/reqs.lst", "Makefile"], inputs, setup).passed
    assert setup_code_gate(["Makefile"], ["Makefile"], None).passed  # no set-up runs


DYNAMIC = (
    '[project]\nname = "x"\ndynamic = ["dependencies"]\n\n'
    '[tool.setuptools.dynamic]\ndependencies = {file = ["deps.txt"]}\n'
)
