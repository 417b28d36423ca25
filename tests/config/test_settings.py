"""load_settings: wiring from the production branch, errors as ``file: key: problem``."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.models import FactoryConfig
from harness.config.settings import load_settings, parse_config
from harness.errors import ConfigError, ConfigErrors
from tests.cli_helpers import run_cli
from tests.conftest import git


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigErrors) as caught:
        parse_config(text)
    return [str(p) for p in caught.value.problems]


def replace_committed(repo: Path, old: str, new: str) -> None:
    config = repo / "factory.yaml"
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new))
    git(repo, "commit", "-qam", f"factory.yaml: {new}")


def test_defaults_of_a_minimal_config() -> None:
    config = parse_config("commands: {test: pytest -q}\n")
    assert config.forge == "local" and config.production_branch == "main"
    assert config.max_parallel == 4 and config.holdout is None
    assert config.models.triage == "claude-haiku-5-5"
    assert config.models.reviewer == "claude-opus-5-5"
    assert config.models.implementer == "claude-sonnet-5-5"
    assert config.role_model("reviewer").thinking is None
    assert config.provider.type == "auto" and config.provider.max_retries == 3
    assert config.provider.max_retry_wait_s == 60
    assert config.commands.ready_path == "/"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["factory.yaml: commands: required, but missing"]),
        ("commands: {}", ["factory.yaml: commands.test: required, but missing"]),
        ("commands: {test: '  '}", ["factory.yaml: commands.test: must not be blank"]),
        (
            "commands: {test: t, test_files: 'pytest -q'}",
            ["factory.yaml: commands.test_files: must contain {tests}, where the factory puts"],
        ),
        ("commands: {test: 5}", ["factory.yaml: commands.test: must be a valid string (got 5)"]),
        ("- a\n- b\n", ["factory.yaml: (top): must be a mapping of keys to values"]),
        (
            "commands: {test: t}\nmax_parallel: 0\nmodels: {triage: 'a b', writer: x}\n",
            [
                "factory.yaml: max_parallel: must be greater than or equal to 1",
                "factory.yaml: models.triage: 'a b' is not a model id",
                "factory.yaml: models.writer: unknown key",
            ],
        ),
        (
            "commands: {test: t}\nprovider: {type: replay}\n",
            ["factory.yaml: provider.replay: type replay needs a folder of recordings here"],
        ),
        (
            "commands: {test: t}\nprovider: {max_retry_wait_s: .nan}\n",
            ["factory.yaml: provider.max_retry_wait_s: must be a finite number (got nan)"],
        ),
        ("commands:\n  test: t\n   setup: x\n", ["factory.yaml: line 3: invalid YAML: "]),
    ],
)
def test_messages_are_short_and_keyed(text: str, expected: list[str]) -> None:
    got = problems(text)
    assert len(got) == len(expected)
    for line, want in zip(got, expected, strict=True):
        assert line.startswith(want), line
        assert "pydantic" not in line and "http" not in line and "\n" not in line


def test_settings_come_from_the_production_branch(inited: Path, tmp_path: Path) -> None:
    (inited / "factory.yaml").write_text("forge: gitea\n")  # uncommitted: not used
    settings = load_settings(inited, tmp_path / "state")
    assert settings.config.forge == "local"
    assert settings.holdout_dir == (inited.parent / "repo-holdout").resolve()
    assert settings.governance.hashes.keys() == {"mission.md", "factory_rules.md", "CLAUDE.md"}
    assert settings.state_dir == tmp_path / "state"


def test_an_uncommitted_config_is_refused(empty_repo: Path, tmp_path: Path) -> None:
    (empty_repo / "factory.yaml").write_text("commands: {test: pytest}\n")
    with pytest.raises(ConfigErrors, match=r"factory.yaml: \(file\): not committed"):
        load_settings(empty_repo, tmp_path / "state")


def test_another_production_branch(inited: Path, tmp_path: Path) -> None:
    git(inited, "checkout", "-qb", "trunk")
    replace_committed(inited, 'production_branch: "main"', "production_branch: trunk")
    replace_committed(inited, "max_parallel: 4", "max_parallel: 2")
    git(inited, "checkout", "-q", "main")
    settings = load_settings(inited, tmp_path / "state")  # main's copy names main
    assert settings.config.production_branch == "main"
    git(inited, "checkout", "-q", "trunk")
    git(inited, "branch", "-D", "main")
    settings = load_settings(inited, tmp_path / "state")  # only trunk is left, checked out
    assert (settings.config.production_branch, settings.config.max_parallel) == ("trunk", 2)


def test_a_production_branch_without_the_config(inited: Path, tmp_path: Path) -> None:
    replace_committed(inited, 'production_branch: "main"', "production_branch: prod")
    with pytest.raises(ConfigErrors, match="production_branch: names 'prod', which has no"):
        load_settings(inited, tmp_path / "state")


def test_a_production_branch_naming_another(inited: Path, tmp_path: Path) -> None:
    git(inited, "checkout", "-qb", "prod")
    replace_committed(inited, 'production_branch: "main"', "production_branch: elsewhere")
    git(inited, "checkout", "-q", "main")
    replace_committed(inited, 'production_branch: "main"', "production_branch: prod")
    with pytest.raises(ConfigErrors, match="the copy on 'prod' names another production branch"):
        load_settings(inited, tmp_path / "state")


@pytest.mark.parametrize(
    ("holdout", "message"),
    [("./journeys", "lies inside the repository"), ("..", "contains the repository")],
)
def test_holdout_must_not_overlap_the_repository(
    inited: Path, tmp_path: Path, holdout: str, message: str
) -> None:
    replace_committed(inited, 'holdout: "../repo-holdout"', f"holdout: {holdout}")
    with pytest.raises(ConfigErrors) as caught:
        load_settings(inited, tmp_path / "state")
    assert [(p.file, p.key) for p in caught.value.problems] == [("factory.yaml", "holdout")]
    assert message in caught.value.problems[0].problem


def test_holdout_through_a_symlink_into_the_repository(inited: Path, tmp_path: Path) -> None:
    (tmp_path / "sneaky").symlink_to(inited / "docs")
    replace_committed(inited, 'holdout: "../repo-holdout"', f"holdout: {tmp_path / 'sneaky'}")
    with pytest.raises(ConfigErrors, match="lies inside the repository"):
        load_settings(inited, tmp_path / "state")


def test_provider_override(inited: Path, tmp_path: Path) -> None:
    settings = load_settings(inited, tmp_path / "state", provider_override="scripted")
    assert settings.config.provider.type == "scripted"
    with pytest.raises(ConfigErrors, match="--provider: replay: type replay needs a folder"):
        load_settings(inited, tmp_path / "state", provider_override="replay")


def test_config_model_is_strict() -> None:
    settings = FactoryConfig.model_config
    assert settings.get("extra") == "forbid" and settings.get("strict") is True


def test_factory_holdout_in_the_environment_wins(
    inited: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a CI job checked the hold-out out: $FACTORY_HOLDOUT, checked like factory.yaml's."""
    elsewhere = tmp_path / "ci" / "holdout"
    elsewhere.mkdir(parents=True)
    monkeypatch.setenv("FACTORY_HOLDOUT", str(elsewhere))
    assert load_settings(inited, tmp_path / "state").holdout_dir == elsewhere.resolve()
    monkeypatch.setenv("FACTORY_HOLDOUT", str(inited / "docs"))
    with pytest.raises(ConfigErrors) as caught:
        load_settings(inited, tmp_path / "state")
    assert [str(p) for p in caught.value.problems] == [
        f"environment: FACTORY_HOLDOUT: {(inited / 'docs').resolve()} lies inside the "
        "repository; it must be outside it"
    ]
    monkeypatch.setenv("FACTORY_HOLDOUT", "  ")  # blank: factory.yaml's applies
    assert (
        load_settings(inited, tmp_path / "state").holdout_dir
        == (inited.parent / "repo-holdout").resolve()
    )


BAD_STARTS = {
    "{}": "{} is not a placeholder",
    "{0}": "{0} is not a placeholder",
    "{unknown}": "{unknown} is not a placeholder",
    "{port!r}": "{port!r} is not a placeholder",
    "{": "an unbalanced brace",
    "}": "an unbalanced brace",
}


@pytest.mark.parametrize("bad", sorted(BAD_STARTS))
@pytest.mark.parametrize("command", ["check", "doctor", "triage"])
def test_start_takes_only_the_port_placeholder(
    inited: Path, capsys: pytest.CaptureFixture[str], bad: str, command: str
) -> None:
    """``commands.start`` is filled in with the port; any other brace is a one-line config
    error in every command (doctor used to crash on it with an IndexError, exit 1)."""
    start = f"python3 -m http.server {{port}} --bind 127.0.0.1 # {bad}"
    replace_committed(inited, "  # start: ", f"  start: {start!r}\n  # was: ")
    res = run_cli(capsys, "--repo", str(inited), command)
    assert res.code == 2, res.out + res.err
    (line,) = res.err.strip().splitlines()
    assert line.startswith("factory: error: factory.yaml: commands.start: "), line
    assert BAD_STARTS[bad] in line and "{{ or }}" in line, line


def test_start_may_hold_doubled_braces() -> None:
    config = parse_config("commands: {test: t, start: 'sh -c \"echo ${{HOME}}; serve {port}\"'}\n")
    assert config.commands.start is not None
    assert config.commands.start.format(port=8000) == 'sh -c "echo ${HOME}; serve 8000"'
    config = parse_config("commands: {test: 'find . -name x -exec rm {} +'}\n")  # shell braces
    assert "{}" in config.commands.test


def test_one_problem_is_its_own_list_of_problems() -> None:
    """Whoever gathers problems catches ``ConfigErrors`` and reads ``problems``: one
    ``ConfigError`` is caught and read the same way, never lost or wrapped."""
    one = ConfigError("factory.yaml", "commands", "required, but missing")
    with pytest.raises(ConfigErrors) as caught:
        raise one
    assert caught.value.problems == [one]
    assert str(ConfigErrors([one])) == str(one) == "factory.yaml: commands: required, but missing"
    assert str(one.first("(at HEAD)")) == "factory.yaml: commands: required, but missing (at HEAD)"
