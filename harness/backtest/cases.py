"""Where a backtest's cases come from, and which files of a fix are its hidden tests: the
production branch's fixes (the factory's own merges, known by its records, and ``Fixes #N``
first-parent commits), each rebuilt at its parent, or a manifest (YAML, docs/backtest.md)
naming cases from this repository or another one. Every problem of a manifest is one line
(file, key, what is wrong)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field

from harness.config.models import Strict
from harness.config.yamlload import FileModel, load_model
from harness.digest import sha256
from harness.engine.context import Services
from harness.errors import (
    ConfigError,
    ConfigErrors,
    FactoryError,
    NotFoundError,
    UsageError,
)
from harness.forge.base import Forge
from harness.git import snapshot
from harness.git.repo import GitRepo
from harness.globs import matching
from harness.kinds import is_revert

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,79}$")
_URL = re.compile(r"^(https?|ssh|git|file)://", re.IGNORECASE)


class Case(FileModel):
    """One rehearsal: an issue (title, body, author) and the two commits of its fix.
    ``tests`` are the fix's hidden tests (paths; one the fix deleted is deleted when
    grading); ``issue`` is the forge's number for a case from the history, else None."""

    id: str
    issue: int | None = None
    title: str
    body: str
    author: str
    base: str
    fix: str
    tests: tuple[str, ...]

    @property
    def key(self) -> str:
        """What makes two cases of two backtests the same case (compared between them)."""
        return f"{self.id}:{self.base}:{self.fix}"

    @property
    def slug(self) -> str:
        """A folder name of its own."""
        readable = re.sub(r"[^A-Za-z0-9._-]", "-", self.id)[:48]
        return f"{readable}-{sha256(self.key)[:8]}"


def _case_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(
            f"{value[:40]!r} is not a case id (letters, digits, '.', '_', '@', '-'; "
            "at most 80 characters)"
        )
    return value


def _repo_path(value: str) -> str:
    if value.startswith("-") or "\0" in value:
        raise ValueError(f"{value[:40]!r} is not a repository path or URL")
    return value


def _test_path(value: str) -> str:
    parts = value.split("/")
    if not value or value.startswith("/") or ".." in parts or "" in parts or "\0" in value:
        raise ValueError(f"{value[:60]!r} is not a path inside the repository")
    return value


class ManifestCase(Strict):
    id: Annotated[str, AfterValidator(_case_id)]
    title: str = Field(min_length=1)
    body: str = ""
    author: str = Field(default="backtest", min_length=1)
    base: str = Field(min_length=1)
    fix: str = Field(min_length=1)
    tests: list[Annotated[str, AfterValidator(_test_path)]] | None = None


class Manifest(Strict):
    repo: Annotated[str, AfterValidator(_repo_path)] | None = None
    cases: list[ManifestCase] = Field(min_length=1)


def hidden_tests(repo: GitRepo, base: str, fix: str, test_paths: list[str]) -> tuple[str, ...]:
    """The files the fix changes (added, modified or deleted) that ``test_paths`` calls tests."""
    return tuple(p for p in repo.paths_between(base, fix) if matching(p, test_paths))


def held(forge: Forge, number: int, since: int | None) -> dict[str, str] | None:
    """The title, body and author of issue ``number`` if the forge holds it (a forge that cannot
    be read is an error, not an issue it lacks; GitHub's deleted one is one it lacks), and,
    with ``since`` (a commit's time), only if it was opened by then: a commit cannot fix an
    issue filed after it (an imported history's ``Fix #1`` is about another tracker's #1)."""
    try:
        issue = forge.get_issue(number)
    except NotFoundError:
        return None
    opened = datetime.fromisoformat(issue.created_at).timestamp() if issue.created_at else 0
    if since is not None and since < int(opened):
        return None
    return {"title": issue.title, "body": issue.body, "author": issue.author}


def history_cases(
    services: Services, issues: tuple[int, ...] = (), limit: int | None = None
) -> list[Case]:
    """The production branch's fixes of issues the forge holds, newest first (only those of
    ``issues`` when given, at most ``limit``): the merges the factory's records say it landed
    (``Landing``: the issue each names; a revert is none), and the commits saying ``Fixes #N``
    that are not such merges, made once issue N was open on this forge (``held``). A commit
    closing two issues is two cases."""
    repo = services.repo
    config = services.settings.config
    branch = config.production_branch
    cases: list[Case] = []
    for fix in snapshot.first_parents(repo, branch):
        landed = services.store.landed(fix.sha)  # (issue, kind): a merge the factory made
        # its records name the issue it fixed, its words nothing; a revert fixed none
        closes = fix.issues if landed is None else (landed[0],) * (not is_revert(landed[1]))
        since = fix.time if landed is None else None  # the factory's record names its issue
        for number in closes:
            if issues and number not in issues:
                continue
            if (found := held(services.forge, number, since)) is None:
                continue
            tests = hidden_tests(repo, fix.parent, fix.sha, config.backtest.test_paths)
            at = {"id": f"{number}@{fix.sha[:12]}", "issue": number, "base": fix.parent}
            cases.append(Case.model_validate({**at, **found, "fix": fix.sha, "tests": tests}))
            if limit is not None and len(cases) >= limit:
                return cases
    missing = [n for n in issues if not any(c.issue == n for c in cases)]
    if missing:
        raise UsageError(
            f"--issue {missing[0]}: no commit on {branch} made after that issue was opened "
            f"closes it (Fixes #{missing[0]}), the factory landed no change of it, or the forge "
            "does not hold that issue"
        )
    return cases


def read_manifest(path: Path) -> Manifest:
    """The manifest at ``path``, or one line saying what is wrong with it."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"--manifest {file}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--manifest {file}: cannot be read as UTF-8 text ({exc})") from None
    try:
        manifest = load_model(Manifest, text, file, "must be a mapping with 'cases' (and 'repo')")
    except ConfigErrors as exc:
        raise exc.first() from None
    seen: set[str] = set()
    for i, case in enumerate(manifest.cases):
        if case.id in seen:
            raise ConfigError(file, f"cases[{i}].id", f"{case.id!r} is given twice")
        seen.add(case.id)
    return manifest


def is_url(value: str) -> bool:
    return bool(_URL.match(value)) or bool(re.match(r"^[\w.-]+@[\w.-]+:", value))


def manifest_cases(
    manifest: Manifest, source: GitRepo, file: str, test_paths: list[str]
) -> list[Case]:
    """The manifest's cases, their commits resolved in ``source`` (where ``repo`` names)."""
    cases: list[Case] = []
    for i, item in enumerate(manifest.cases):
        commits: dict[str, str] = {}
        for field in ("base", "fix"):
            value = getattr(item, field)
            sha = source.rev_parse(value) if not value.startswith("-") else None
            if sha is None:
                raise ConfigError(
                    file, f"cases[{i}].{field}", f"{value[:60]!r} names no commit in {source.path}"
                )
            commits[field] = sha
        base = commits["base"]
        fix = commits["fix"]
        if base == fix or not source.is_ancestor(base, fix):  # the answer would be in reach
            raise ConfigError(
                file, f"cases[{i}].base", f"{base[:12]} is not an ancestor of the fix {fix[:12]}"
            )
        if item.tests is None:
            tests = hidden_tests(source, base, fix, test_paths)
        else:
            tests = tuple(item.tests)
            for path in tests:
                if source.read_blob(fix, path) is None and source.read_blob(base, path) is None:
                    raise ConfigError(
                        file,
                        f"cases[{i}].tests",
                        f"{path!r} is in neither {base[:12]} nor {fix[:12]}",
                    )
        issue = item.model_dump(include={"id", "title", "body", "author"})
        cases.append(Case(**issue, base=base, fix=fix, tests=tests))
    return cases


def manifest_source(manifest: Manifest, file: Path, own: GitRepo, cache: Path) -> GitRepo:
    """The repository a manifest's commits live in: this one (no ``repo``), a local one
    (a path from the manifest's folder), or a local copy of a remote one (a URL: every
    branch and tag fetched into ``cache``, again on each backtest)."""
    where = manifest.repo
    if where is None:
        return own
    if is_url(where):
        if re.match(r"^[a-z]+://[^/]*@", where, re.IGNORECASE):
            raise ConfigError(str(file), "repo", "a URL with credentials in it is refused")
        folder = cache / f"{sha256(where)[:16]}.git"
        fresh = not (folder / "HEAD").is_file()
        copy = GitRepo.init(folder, "main", bare=True) if fresh else GitRepo(folder)
        try:
            snapshot.mirror(copy, where)
        except FactoryError as exc:
            raise ConfigError(str(file), "repo", f"{where}: cannot be fetched ({exc})") from None
        return copy
    path = (file.parent / where).resolve()
    try:
        return GitRepo(path)
    except FactoryError:
        raise ConfigError(str(file), "repo", f"{path} is not a git repository") from None
