"""``factory init`` and ``factory check`` through the real CLI, and the config mistakes it catches."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.paths import validators_dir, workflows_dir
from tests.cli_helpers import run_cli
from tests.conftest import git


def test_init_then_check_passes(inited: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("mission.md", "factory_rules.md", "CLAUDE.md", "factory.yaml"):
        assert (inited / name).is_file()
    assert ".factory/*" in (inited / ".gitignore").read_text()
    res = run_cli(capsys, "--repo", str(inited), "check")
    assert res.code == 0, res.err
    last = res.out.strip().splitlines()[-1]
    assert last.startswith("ok:") and "factory doctor" in last
    assert "holdout" in res.out  # the missing hold-out is a note, not an error


def test_init_never_overwrites_without_force(inited: Path, capsys) -> None:
    (inited / "mission.md").write_text("# mine\n")
    (inited / "CLAUDE.md").unlink()
    res = run_cli(capsys, "--repo", str(inited), "init")
    assert res.code == 0, res.err
    assert "kept mission.md: it exists (--force-governance overwrites it)" in res.out
    assert "wrote CLAUDE.md" in res.out  # what is missing is added beside what exists
    assert (inited / "mission.md").read_text() == "# mine\n"
    res = run_cli(capsys, "--repo", str(inited), "init", "--force-workflows")
    assert (inited / "mission.md").read_text() == "# mine\n"  # another kind: kept
    res = run_cli(capsys, "--repo", str(inited), "init", "--force-governance")
    assert res.code == 0 and "overwrote mission.md" in res.out
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


def journey(text: str) -> Callable[[Path], None]:
    """A hold-out outside the repository whose one journey, login.yaml, is ``text``."""

    def apply(repo: Path) -> None:
        edit("factory.yaml", r"^holdout: .*$", f"holdout: {repo.parent / 'ho'}")(repo)
        (repo.parent / "ho" / "journeys").mkdir(parents=True)
        (repo.parent / "ho" / "journeys" / "login.yaml").write_text(text)

    return apply


bad_journey = journey("name: login\nsteps:\n  - goto: /\n  - clik: {text: Login}\n")


def write(name: str, text: str) -> Callable[[Path], None]:
    def apply(repo: Path) -> None:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)

    return apply


SEALED = (validators_dir() / "sealed_browser.yaml").read_text()
IMPLEMENT = (workflows_dir() / "implement.yaml").read_text()
REVIEW = "    max_turns: 12\n    max_tokens: 16384\n"
REVIEW_4096 = "    max_turns: 12\n    max_tokens: 4096\n"
assert REVIEW in IMPLEMENT and "max_tokens: 16384" in SEALED

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
        edit("mission.md", r"## Out of scope\n(- .*\n)+", ""),
        "mission.md: ## Out of scope: required section is missing",
    ),
    (
        "out of scope without items",
        edit("mission.md", r"## Out of scope\n(- .*\n)+", "## Out of scope\nNothing yet.\n"),
        "mission.md: ## Out of scope: needs at least one list item",
    ),
    (
        "bad glob",
        edit("factory_rules.md", r"^  - \.factory/\*\*", "  - src/[abc"),
        "factory_rules.md: protected_paths[5]: bad glob: 'src/[abc' has unbalanced [ ]",
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
    (
        "start with an empty placeholder",
        edit("factory.yaml", r"^  # start: .*$", '  start: "python app.py --port {port} {}"'),
        "factory.yaml: commands.start: {} is not a placeholder: {port} is the only one",
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
        edit("factory_rules.md", r"^  - mission\.md.*\n", ""),
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
    (
        "journey naming a key twice",
        journey("name: login\nname: again\nsteps:\n  - goto: /\n"),
        "journeys/login.yaml: line 2: duplicate key 'name'",
    ),
    (
        "journey not a mapping",
        journey("- goto: /\n"),
        "journeys/login.yaml: (top): must be a mapping with name and steps",
    ),
    (
        "duplicate key",
        append("factory.yaml", "max_parallel: 2\n"),
        "factory.yaml: line 65: duplicate key 'max_parallel'",
    ),
    (
        "number given as text",
        edit("factory.yaml", r"^max_parallel: 4", 'max_parallel: "4"'),
        "factory.yaml: max_parallel: must be a valid integer (got '4')",
    ),
    (
        "hold-out containing the repo",
        edit("factory.yaml", r"^holdout: .*$", "holdout: .."),
        "contains the repository",
    ),
    (
        "empty mission section",
        edit("mission.md", r"^What .* is for.*\n", ""),
        "mission.md: ## Purpose: is empty",
    ),
    (
        "infinite budget",
        edit("factory_rules.md", r"per_run_usd: 20\.0", "per_run_usd: .inf"),
        "factory_rules.md: budgets.per_run_usd: must be a finite number",
    ),
    (
        "repository not owner/name",
        edit("factory.yaml", r"^forge: local.*$", "forge: github\ngithub: {repository: myapp}"),
        "factory.yaml: github.repository: 'myapp' is not of the form owner/name",
    ),
    (
        "invalid branch name",
        edit("factory.yaml", r"^production_branch: .*$", "production_branch: release..1"),
        "factory.yaml: production_branch: 'release..1' is not a valid branch name",
    ),
    (
        "rules YAML syntax error",
        edit("factory_rules.md", r"^max_fix_attempts: 2", "max_fix_attempts: [2"),
        "factory_rules.md: line ",
    ),
    (
        "ready_path not a path",
        edit("factory.yaml", r'^  ready_path: "/"', '  ready_path: "health"'),
        "factory.yaml: commands.ready_path: must be a path starting with /",
    ),
    (
        "text for a boolean",
        edit("factory_rules.md", r"^  enabled: true", '  enabled: "yes"'),
        "factory_rules.md: auto_merge.enabled: must be a valid boolean (got 'yes')",
    ),
    (
        "unknown model id",
        edit("factory.yaml", r"^  triage: .*$", "  triage: claude-sonet-5-5"),
        "factory.yaml: models.triage: 'claude-sonet-5-5' is not a model id this factory knows",
    ),
    (
        "thinking off where it cannot be",
        append("factory.yaml", "thinking: {reviewer: 'off'}\n"),
        "factory.yaml: thinking.reviewer: claude-opus-5-5 cannot turn thinking off",
    ),
    (
        "unknown effort",
        append("factory.yaml", "effort: {triage: extreme}\n"),
        "factory.yaml: effort.triage:",
    ),
    (
        "a role that does not exist",
        append("factory.yaml", "effort: {reviwer: high}\n"),
        "factory.yaml: effort.reviwer: must be 'triage', 'planner', 'implementer', 'reviewer',",
    ),
    (
        "thinking off above the effort that allows it",
        append("factory.yaml", "thinking: {triage: 'off'}\neffort: {triage: xhigh}\n"),
        "factory.yaml: thinking.triage: claude-haiku-5-5 turns thinking off only at effort high "
        "or below, not xhigh",
    ),
    (
        "a review with no room to think",
        write(".factory/workflows/implement.yaml", IMPLEMENT.replace(REVIEW, REVIEW_4096, 1)),
        ".factory/workflows/implement.yaml: steps[8] (review).max_tokens: 4,096 output tokens "
        "are too few for the reviewer's model claude-opus-5-5 (it cannot turn thinking off, at "
        "effort medium): its thinking counts toward max_tokens, sized at 6,144 tokens, with "
        "4,096 for the answer after it; set at least 10,240",
    ),
    (
        "an effort the shipped output limit has no room for",
        append("factory.yaml", "effort: {planner: xhigh}\n"),
        "workflows/implement.yaml: steps[3] (plan).max_tokens: 16,384 output tokens are too few "
        "for the planner's model claude-sonnet-5-5 (it thinks, at effort xhigh)",
    ),
    (
        "a validator with no room to think",
        write(
            ".factory/validators/sealed_browser.yaml",
            SEALED.replace("max_tokens: 16384", "max_tokens: 2048"),
        ),
        ".factory/validators/sealed_browser.yaml: max_tokens: 2,048 output tokens are too few "
        "for the validator's model claude-sonnet-5-5",
    ),
    (
        "network.allow: a URL",
        edit("factory.yaml", "^network: .*$", "network: {allow: ['https://pypi.org']}"),
        "factory.yaml: network.allow[0]: 'https://pypi.org' is not a host name",
    ),
    (
        "network.allow: a top-level domain for everything under it",
        edit("factory.yaml", "^network: .*$", "network: {allow: [pypi.org, '*.com']}"),
        "factory.yaml: network.allow[1]: '*.com' is too broad",
    ),
    (
        "network.allow: an address",
        edit("factory.yaml", "^network: .*$", "network: {allow: ['169.254.169.254']}"),
        "factory.yaml: network.allow[0]: '169.254.169.254' is an address",
    ),
    (
        "network.allow: port out of range",
        edit("factory.yaml", "^network: .*$", "network: {allow: ['pypi.org:70000']}"),
        "factory.yaml: network.allow[0]: 'pypi.org:70000': the port must be 1-65535",
    ),
    (
        "network.allow: one name, not a list",
        edit("factory.yaml", "^network: .*$", "network: {allow: pypi.org}"),
        "factory.yaml: network.allow: must be a valid list",
    ),
    (
        "factory.yaml of 200,000 keys",
        append("factory.yaml", "".join(f"k{i}: 1\n" for i in range(200_000))),
        "factory.yaml: (file): is 2,",
    ),
    (
        "mission.md of 10 MB",
        append("mission.md", "## Goals\ntext\n" * 750_000),
        "mission.md: (file): is 10,",
    ),
    (
        "front matter of 100,000 keys",
        edit("factory_rules.md", "^---$", "---\n" + "".join(f"k{i}: 1\n" for i in range(10**5))),
        "factory_rules.md: front matter: is 990,",
    ),
    (
        "validator override out of range",
        write(
            ".factory/validators/sealed_browser.yaml",
            SEALED.replace("max_turns: 30", "max_turns: 0"),
        ),
        ".factory/validators/sealed_browser.yaml: max_turns: must be greater than or equal to 1",
    ),
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


def test_at_least_twelve_distinct_mistakes() -> None:
    assert len({m[0] for m in MISTAKES}) == len(MISTAKES) >= 12
    assert len({tuple(m[2].split(":")[:2]) for m in MISTAKES}) >= 12


def test_other_commands_refuse_bad_committed_config(inited: Path, capsys) -> None:
    edit("factory.yaml", r"^forge: local", "forge: gitea")(inited)
    git(inited, "commit", "-qam", "break the wiring")
    res = run_cli(capsys, "--repo", str(inited), "triage")
    assert res.code == 2
    assert res.err.startswith("factory: error: factory.yaml: forge:")
    assert len(res.err.strip().splitlines()) == 1


def test_a_committed_governance_file_over_its_cap_is_refused_unread(inited: Path, capsys) -> None:
    append("mission.md", "## Goals\ntext\n" * 750_000)(inited)  # 10 MB
    git(inited, "add", "-A")
    git(inited, "commit", "-qm", "a mission of 10 MB")
    res = run_cli(capsys, "--repo", str(inited), "triage")
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1, res.err
    assert res.err.startswith("factory: error: mission.md: (file): is 10,")


def test_check_json_reports_errors_and_warnings(inited: Path, capsys) -> None:
    res = run_cli(capsys, "--repo", str(inited), "check", "--json")
    assert res.code == 0
    assert res.json()["ok"] is True and res.json()["errors"] == []
    edit("factory.yaml", r"^forge: local", "forge: gitea")(inited)
    append("mission.md", "\nmore\n")(inited)
    res = run_cli(capsys, "--repo", str(inited), "check", "--json")
    assert res.code == 2
    data = res.json()
    assert data["ok"] is False
    assert [(e["file"], e["key"]) for e in data["errors"]] == [("factory.yaml", "forge")]
    assert any(w.startswith("mission.md: differs") for w in data["warnings"])


def test_check_warns_about_files_not_committed_yet(empty_repo: Path, capsys) -> None:
    assert run_cli(capsys, "--repo", str(empty_repo), "init").code == 0
    res = run_cli(capsys, "--repo", str(empty_repo), "check")
    assert res.code == 0, res.err
    for name in ("mission.md", "factory_rules.md", "CLAUDE.md", "factory.yaml"):
        assert f"warning: {name}: not on the production branch 'main' yet" in res.out


def test_check_reports_every_problem_at_once(inited: Path, capsys) -> None:
    edit("factory.yaml", r"^forge: local", "forge: gitea")(inited)
    edit("mission.md", r"^## Purpose", "## Preface")(inited)
    remove("CLAUDE.md")(inited)
    res = run_cli(capsys, "--repo", str(inited), "check")
    assert res.code == 2
    lines = res.err.strip().splitlines()
    assert len(lines) == 3
    assert {line.split(": ")[2] for line in lines} == {"CLAUDE.md", "factory.yaml", "mission.md"}


def test_check_notes_valid_journeys_and_missing_front_matter(inited: Path, capsys) -> None:
    holdout = inited.parent / "repo-holdout" / "journeys"
    holdout.mkdir(parents=True, exist_ok=True)
    (holdout / "home.yaml").write_text("name: home\nsteps:\n  - goto: /\n")
    rules = inited / "factory_rules.md"
    rules.write_text(rules.read_text().split("---\n", 2)[2])
    res = run_cli(capsys, "--repo", str(inited), "check")
    assert res.code == 0, res.err
    assert "note: hold-out: 1 journey(s) valid" in res.out
    assert "warning: factory_rules.md: front matter: none" in res.out


def test_check_refuses_a_state_dir_it_cannot_create(
    inited: Path, capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FACTORY_STATE_DIR", str(blocker / "state"))
    res = run_cli(capsys, "--repo", str(inited), "check")
    assert res.code == 2
    assert res.err.strip().splitlines() == [
        f"factory: error: FACTORY_STATE_DIR: {blocker / 'state'}: not writable ({blocker})"
    ]
    assert not (inited / ".factory").exists()  # check never writes


def test_init_for_github_takes_the_repository_from_origin(empty_repo: Path, capsys) -> None:
    git(empty_repo, "remote", "add", "origin", "git@github.com:acme/widgets.git")
    res = run_cli(capsys, "--repo", str(empty_repo), "init", "--forge", "github")
    assert res.code == 0, res.err
    text = (empty_repo / "factory.yaml").read_text()
    assert 'repository: "acme/widgets"' in text and "forge: github" in text
    git(empty_repo, "add", "-A")
    git(empty_repo, "commit", "-qm", "governance")
    assert run_cli(capsys, "--repo", str(empty_repo), "check").code == 0


def test_init_for_github_without_a_github_remote(empty_repo: Path, capsys) -> None:
    res = run_cli(capsys, "--repo", str(empty_repo), "init", "--forge", "github")
    assert res.code == 0, res.err
    assert "# github:" in (empty_repo / "factory.yaml").read_text()
    git(empty_repo, "add", "-A")
    git(empty_repo, "commit", "-qm", "governance")
    assert run_cli(capsys, "--repo", str(empty_repo), "check").code == 0


def test_init_keeps_an_existing_gitignore(empty_repo: Path, capsys) -> None:
    (empty_repo / ".gitignore").write_text("node_modules/")
    assert run_cli(capsys, "--repo", str(empty_repo), "init").code == 0
    lines = (empty_repo / ".gitignore").read_text().splitlines()
    assert lines[0] == "node_modules/" and ".factory/*" in lines
    assert run_cli(capsys, "--repo", str(empty_repo), "init", "--force").code == 0
    assert (empty_repo / ".gitignore").read_text().count(".factory/*") == 1
    (empty_repo / ".factory").mkdir()
    (empty_repo / ".factory" / "x.db").write_text("state")
    assert git(empty_repo, "status", "--porcelain", "--untracked-files=all", ".factory") == ""


def test_init_outside_a_git_repository(tmp_path: Path, capsys) -> None:
    res = run_cli(capsys, "--repo", str(tmp_path), "init")
    assert res.code == 2
    assert "not inside a git repository" in res.err
    assert not (tmp_path / "mission.md").exists()


def test_check_reads_the_holdout_from_the_environment(
    inited: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("FACTORY_HOLDOUT", str(tmp_path / "ci-holdout"))
    res = run_cli(capsys, "--repo", str(inited), "check")
    assert res.code == 0, res.err
    assert "warning: environment: FACTORY_HOLDOUT: " in res.out
    (tmp_path / "ci-holdout" / "journeys").mkdir(parents=True)
    (tmp_path / "ci-holdout" / "journeys" / "home.yaml").write_text(
        "name: home\nsteps: [goto: /]\n"
    )
    res = run_cli(capsys, "--repo", str(inited), "check")
    assert "journey(s) valid" in res.out and "(from $FACTORY_HOLDOUT)" in res.out
    monkeypatch.setenv("FACTORY_HOLDOUT", str(inited / "sub"))
    res = run_cli(capsys, "--repo", str(inited), "check")
    assert res.code == 2
    assert "error: environment: FACTORY_HOLDOUT: " in res.out + res.err


def test_a_deprecated_model_is_a_warning_with_its_end_of_life(inited: Path, capsys) -> None:
    edit("factory.yaml", r"^  implementer: .*$", "  implementer: claude-sonnet-4-5")(inited)
    res = run_cli(capsys, "--repo", str(inited), "check")
    assert res.code == 0, res.err
    assert (
        "warning: factory.yaml: models.implementer: claude-sonnet-4-5 is deprecated; "
        "its end of life is 2026-11-30" in res.out
    )
    assert res.out.strip().splitlines()[-1].startswith("ok:")


def test_check_takes_mission_headings_in_the_maintainers_words(inited: Path, capsys) -> None:
    mission = inited / "mission.md"
    text = mission.read_text()
    for old, new in (
        ("## Invariants", "## Hard invariants"),
        ("## Capabilities", "## Core capabilities"),
        ("## Out of scope", "## Non-goals"),
    ):
        text = text.replace(old, new)
    mission.write_text(text)
    res = run_cli(capsys, "--repo", str(inited), "check")
    assert res.code == 0, res.err
    assert "note: mission.md: Out of scope <- 'Non-goals'" in res.out
    assert "note: mission.md: Invariants <- 'Hard invariants'" in res.out
    mission.write_text(re.sub(r"## Non-goals\n(- .*\n)+", "", text))
    res = run_cli(capsys, "--repo", str(inited), "check")
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1, res.err
    assert "mission.md: ## Out of scope: required section is missing" in res.err


def test_a_test_command_no_template_fits_is_a_warning_with_its_cost(inited: Path, capsys) -> None:
    edit("factory.yaml", r"^  test: .*$", "  test: python -m pytest -q")(inited)
    res = run_cli(capsys, "--repo", str(inited), "check", "--json")
    assert not any("commands.test:" in w for w in res.json()["warnings"])  # pytest's fits
    edit("factory.yaml", r"^  test: .*$", "  test: mkdir -p data && python -m pytest -q")(inited)
    res = run_cli(capsys, "--repo", str(inited), "check", "--json")
    assert res.code == 0, res.err
    (said,) = [w for w in res.json()["warnings"] if "commands.test:" in w]
    assert "`mkdir -p data && python -m pytest -q` fits no commands.test_files template" in said
    assert "fails-before proof" in said and "run the whole suite instead" in said


def test_check_names_the_allow_list_it_derives_and_where_from(tmp_path: Path, capsys) -> None:
    """With no ``network.allow``, set-up's list comes from the manifests at the newest commit
    of production that changed a governance file: ``factory check`` names the hosts, the
    manifests and that commit; a manifest merged after it (an agent's) widens nothing."""
    from tests.factory_repo import make_factory_repo

    repo = make_factory_repo(tmp_path / "notes")
    (repo / "requirements.txt").write_text("flask\n")
    (repo / "mission.md").write_text((repo / "mission.md").read_text() + "\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a maintainer's one-line mission edit, beside the manifest")
    governance = git(repo, "rev-parse", "HEAD").strip()
    (repo / "Gemfile").write_text("source 'https://rubygems.org'\n")
    git(repo, "add", "Gemfile")
    git(repo, "commit", "-qm", "merged from an agent's change")
    res = run_cli(capsys, "--repo", str(repo), "check")
    assert res.code == 0, res.err
    (line,) = [line for line in res.out.splitlines() if "network.allow" in line]
    assert line == (
        "note: factory.yaml: network.allow: unset, so set-up may reach pypi.org, "
        f"files.pythonhosted.org: the registries of requirements.txt at {governance[:12]}, the "
        "newest commit on main that changed a governance file; list the hosts in network.allow "
        "to hold the list as it is"
    )


def test_the_shipped_output_limits_fit_the_default_models(tmp_path: Path) -> None:
    """Why ``factory check`` reads no limit when the models, their thinking and effort are the
    defaults and nothing is overridden: the shipped limits fit the default models."""
    from harness.config.models import FactoryConfig
    from harness.onboard.check import output_limits
    from harness.onboard.model_check import output_problems

    config = FactoryConfig.model_validate({"commands": {"test": "true"}})
    assert output_limits(tmp_path, config) == []  # nothing chosen, nothing overridden
    (tmp_path / ".factory" / "workflows").mkdir(parents=True)
    (tmp_path / ".factory" / "workflows" / "unread.yaml").write_text("not: a workflow\n")
    limits = output_limits(tmp_path, config)  # an override: every limit read
    assert {limit.role for limit in limits} >= {"planner", "implementer", "reviewer", "validator"}
    assert output_problems(config, limits) == []
