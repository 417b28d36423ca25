"""``factory check``: validate the working-tree copies a maintainer edits, and compare them
with what runs will use (the production branch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.config.governance import check_mission, parse_rules, read_on_branch
from harness.config.models import CONFIG_FILE, GOVERNANCE_FILES, FactoryConfig
from harness.config.settings import check_holdout, holdout_path, parse_config
from harness.errors import ConfigError, ConfigErrors, GitError
from harness.git.repo import GitRepo


@dataclass
class CheckReport:
    errors: list[ConfigError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _read(root: Path, name: str, report: CheckReport) -> str | None:
    path = root / name
    if not path.is_file():
        report.errors.append(ConfigError(name, "(file)", "missing (run 'factory init')"))
        return None
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        report.errors.append(ConfigError(name, "(file)", "is not UTF-8 text"))
        return None


def _collect(report: CheckReport, fn: object, *args: object) -> object:
    try:
        return fn(*args)  # type: ignore[operator]
    except ConfigErrors as exc:
        report.errors.extend(exc.problems)
    except ConfigError as exc:
        report.errors.append(exc)
    return None


def _journeys(holdout: Path, report: CheckReport) -> None:
    if not holdout.is_dir():
        report.warnings.append(
            f"{CONFIG_FILE}: holdout: {holdout} does not exist yet; validation will refuse to "
            "merge until it holds journeys"
        )
        return
    from harness.browser.journeys import load_journeys

    found = _collect(report, load_journeys, holdout)
    if isinstance(found, list) and found:
        report.warnings.append(f"hold-out: {len(found)} journey(s) valid in {holdout}")


def _compare(root: Path, branch: str, texts: dict[str, str], report: CheckReport) -> None:
    try:
        repo = GitRepo(root)
    except GitError as exc:
        report.errors.append(ConfigError(str(root), "(repository)", str(exc)))
        return
    if repo.rev_parse(f"refs/heads/{branch}") is None:
        report.warnings.append(
            f"{CONFIG_FILE}: production_branch: {branch!r} has no commits yet; runs cannot start"
        )
        return
    for name, text in texts.items():
        committed = read_on_branch(repo, branch, name)
        if committed is None:
            report.warnings.append(
                f"{name}: not on the production branch {branch!r} yet; runs will not use it"
            )
        elif committed != text:
            report.warnings.append(
                f"{name}: differs from the production branch {branch!r}; "
                "runs use the committed copy"
            )


def check(root: Path, state_dir: Path) -> CheckReport:
    report = CheckReport()
    texts: dict[str, str] = {}
    for name in (*GOVERNANCE_FILES, CONFIG_FILE):
        text = _read(root, name, report)
        if text is not None:
            texts[name] = text
    config = None
    if CONFIG_FILE in texts:
        config = _collect(report, parse_config, texts[CONFIG_FILE])
    if "mission.md" in texts:
        report.errors.extend(check_mission(texts["mission.md"]))
    if "factory_rules.md" in texts:
        _collect(report, parse_rules, texts["factory_rules.md"])
    if isinstance(config, FactoryConfig):
        holdout = holdout_path(root, config)
        problem = check_holdout(root, holdout)
        if problem is not None:
            report.errors.append(problem)
        else:
            _journeys(holdout, report)
        _compare(root, config.production_branch, texts, report)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        probe = state_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        report.errors.append(
            ConfigError("FACTORY_STATE_DIR", str(state_dir), f"not writable: {exc.strerror}")
        )
    return report
