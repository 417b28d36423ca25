"""``factory init`` and ``factory check`` through the real CLI, and the config mistakes it catches."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import git


@pytest.fixture
def inited(empty_repo: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    res = run_cli(capsys, "--repo", str(empty_repo), "init")
    assert res.code == 0, res.err
    git(empty_repo, "add", "-A")
    git(empty_repo, "commit", "-q", "-m", "factory governance")
    return empty_repo


def test_init_then_check_passes(inited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("mission.md", "factory_rules.md", "CLAUDE.md", "factory.yaml"):
        assert (inited / name).is_file()
    assert ".factory/*" in (inited / ".gitignore").read_text()
    res = run_cli(capsys, "--repo", str(inited), "check")
    assert res.code == 0, res.err
    assert res.out.strip().endswith("ok")
    assert "holdout" in res.out  # the missing hold-out is a note, not an error


def test_init_never_overwrites_without_force(inited: Path, capsys) -> None:
    (inited / "mission.md").write_text("# mine\n")
    res = run_cli(capsys, "--repo", str(inited), "init")
    assert res.code == 2
    assert "already exist" in res.err and "--force" in res.err
    assert (inited / "mission.md").read_text() == "# mine\n"
    res = run_cli(capsys, "--repo", str(inited), "init", "--force")
    assert res.code == 0
    assert "## Out of scope" in (inited / "mission.md").read_text()


def test_check_notes_uncommitted_governance(inited: Path, capsys) -> None:
    path = inited / "CLAUDE.md"
    path.write_text(path.read_text() + "\n- one more convention\n")
    res = run_cli(capsys, "--repo", str(inited), "check")
    assert res.code == 0
    assert "CLAUDE.md: differs from the production branch" in res.out


def edit(name: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(repo: Path) -> None:
        text = (repo / name).read_text()
        assert re.search(old, text, flags=re.M), (name, old)
        (repo / name).write_text(re.sub(old, new, text, count=1, flags=re.M))

    return apply


def append(name: str, extra: str) -> Callable[[Path], None]:
    def apply(repo: Path) -> None:
        (repo / name).write_text((repo / name).read_text() + extra)

    return apply


def remove(name: str) -> Callable[[Path], None]:
    return lambda repo: (repo / name).unlink()


def bad_journey(repo: Path) -> None:
    edit("factory.yaml", r"^holdout: .*$", f"holdout: {repo.parent / 'ho'}")(repo)
    (repo.parent / "ho" / "journeys").mkdir(parents=True)
    (repo.parent / "ho" / "journeys" / "login.yaml").write_text(
        "name: login\nsteps:\n  - goto: /\n  - clik: {text: Login}\n"
    )


MISTAKES = [
    ("unknown key", append("factory.yaml", "colour: blue\n"), "factory.yaml: colour: unknown key"),
    (
        "wrong type",
        edit("factory.yaml", r"^max_parallel: 4", "max_parallel: many"),
        "factory.yaml: max_parallel:",
    ),
    (
        "hold-out inside the repo",
        edit("factory.yaml", r"^holdout: .*$", "holdout: ./journeys"),
        "factory.yaml: holdout: ",
    ),
    ("missing governance file", remove("CLAUDE.md"), "CLAUDE.md: (file): missing"),
    (
        "missing mission section",
        edit("mission.md", r"^## Invariants", "## Promises"),
        "mission.md: ## Invariants: required section is missing",
    ),
    (
        "out of scope without items",
        edit("mission.md", r"## Out of scope\n(- .*\n)+", "## Out of scope\nNothing yet.\n"),
        "mission.md: ## Out of scope: needs at least one list item",
    ),
    (
        "bad glob",
        edit("factory_rules.md", r"^  - \.factory/\*\*", "  - src/[abc"),
        "factory_rules.md: protected_paths: bad glob",
    ),
    (
        "review band above min score",
        edit("factory_rules.md", r"^review_band: 0\.7", "review_band: 0.95"),
        "factory_rules.md: review_band: 0.95 is above",
    ),
    (
        "negative budget",
        edit("factory_rules.md", r"per_day_usd: 50\.0", "per_day_usd: -5"),
        "factory_rules.md: budgets.per_day_usd:",
    ),
    (
        "start without {port}",
        edit("factory.yaml", r"^  # start: .*$", '  start: "python app.py"'),
        "factory.yaml: commands.start: must contain {port}",
    ),
    ("invalid YAML", append("factory.yaml", "models: [unclosed\n"), "factory.yaml: line "),
    (
        "missing test command",
        edit("factory.yaml", r"^  test: .*$", ""),
        "factory.yaml: commands.test: required",
    ),
    (
        "unknown forge",
        edit("factory.yaml", r"^forge: local", "forge: gitea"),
        "factory.yaml: forge:",
    ),
    (
        "governance file not protected",
        edit("factory_rules.md", r"^  - mission\.md\n", ""),
        "factory_rules.md: protected_paths: must protect the governance files; missing mission.md",
    ),
    (
        "front matter never closed",
        edit("factory_rules.md", r"^---\n# Factory rules", "# Factory rules"),
        "factory_rules.md: front matter: starts with --- but has no closing ---",
    ),
    (
        "unknown nested key",
        edit("factory_rules.md", r"^  enabled: true", "  enabeld: true"),
        "factory_rules.md: auto_merge.enabeld: unknown key",
    ),
    ("bad journey step", bad_journey, "journeys/login.yaml: steps[1].clik: unknown key"),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES]
)
def test_each_mistake_gives_one_precise_line_and_exit_2(
    inited: Path, capsys: pytest.CaptureFixture[str], mutate: Callable[[Path], None], expected: str
) -> None:
    mutate(inited)
    res = run_cli(capsys, "--repo", str(inited), "check")
    assert res.code == 2, (res.out, res.err)
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, lines
    assert expected in lines[0], lines[0]
    assert "Traceback" not in res.out + res.err


def test_at_least_ten_distinct_mistakes() -> None:
    assert len({m[2].split(":")[0] + m[2].split(":")[1] for m in MISTAKES}) >= 10


def test_other_commands_refuse_bad_committed_config(inited: Path, capsys) -> None:
    edit("factory.yaml", r"^forge: local", "forge: gitea")(inited)
    git(inited, "commit", "-qam", "break the wiring")
    res = run_cli(capsys, "--repo", str(inited), "triage")
    assert res.code == 2
    assert res.err.startswith("factory: error: factory.yaml: forge:")
    assert len(res.err.strip().splitlines()) == 1
