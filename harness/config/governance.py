"""The governance files, read from the production branch and hashed."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from harness.config.mission import check_mission
from harness.config.models import CONFIG_FILE, GOVERNANCE_FILES, Rules
from harness.config.yamlload import load_model
from harness.digest import sha256
from harness.errors import ConfigError, ConfigErrors
from harness.git.repo import GitRepo

# the most of a governance file read at all, checked before it is parsed: factory.yaml and
# front matter are YAML (a slow parser), the rest Markdown; more is a mistake, or an attack
# on the time every command takes
MAX_YAML_BYTES, MAX_BYTES = 256_000, 1_048_576
# the heading of factory_rules.md's last section, where the lessons a maintainer merged live
# (the factory's proposals add lines there and nowhere else)
LESSONS = "## Lessons (nothing here relaxes a rule above)"


def too_large(name: str, size: int, key: str = "(file)") -> None:
    """A ConfigError for a governance file (``key``: its front matter) over its cap."""
    cap = MAX_YAML_BYTES if name == CONFIG_FILE or key != "(file)" else MAX_BYTES
    if size > cap:
        raise ConfigError(name, key, f"is {size:,} bytes; at most {cap:,} are read")


@dataclass(frozen=True)
class Governance:
    """The three files as the factory's runs use them."""

    mission: str
    rules_text: str
    claude: str
    rules: Rules
    hashes: dict[str, str]  # file name -> SHA-256 of its committed bytes
    commit: str  # the production-branch commit they were read from

    def texts(self) -> list[tuple[str, str]]:
        """(file name, verbatim text) in the order they are given to every agent: the lessons
        section of factory_rules.md last, after the rules and CLAUDE.md, under a name of its
        own (docs/learning.md)."""
        rules, lessons = split_lessons(self.rules_text)
        texts = list(zip(GOVERNANCE_FILES, (self.mission, rules, self.claude), strict=True))
        return [*texts, (f"{GOVERNANCE_FILES[1]}: lessons", lessons)] if lessons else texts


def split_lessons(text: str) -> tuple[str, str]:
    """factory_rules.md as (its rules, its lessons section: from ``LESSONS`` to the end of
    the file; empty when it has none)."""
    found = re.search(f"^{re.escape(LESSONS)}[ \t]*$", text, re.M)
    at = found.start() if found else len(text)
    return text[:at], text[at:]


def has_front_matter(text: str) -> bool:
    lines = text.removeprefix("\ufeff").splitlines()
    return bool(lines) and lines[0].strip() == "---"


def split_front_matter(text: str) -> tuple[str, int]:
    """factory_rules.md's YAML front matter and the line it ends on: its text as the file
    holds it, the line of its opening ``---`` left blank (so that YAML's line numbers are the
    file's), "" when there is none.

    A file that does not start with ``---`` has no front matter: the documented defaults apply
    (``factory check`` says so). One that starts with ``---`` but never closes it is an error,
    so a typo cannot silently turn the enforced policy into prose."""
    if not has_front_matter(text):
        return "", 0
    lines = text.removeprefix("\ufeff").splitlines()
    end = next(
        (i for i, line in enumerate(lines[1:], start=1) if line.strip() in ("---", "...")), 0
    )
    if not end:
        raise ConfigError(
            "factory_rules.md", "front matter", "starts with --- but has no closing ---"
        )
    front = "\n".join(lines[1:end])
    too_large("factory_rules.md", len(front.encode()), "front matter")
    return "\n" + front, end


def parse_rules(text: str) -> Rules:
    front, _ = split_front_matter(text)
    mapping = "the front matter must be a mapping of keys to values"
    return load_model(Rules, front, "factory_rules.md", mapping)


def read_on_branch(repo: GitRepo, branch: str, path: str) -> str | None:
    """``path`` as committed on the local branch ``branch`` (a tag of that name never counts)."""
    return read_at(repo, f"refs/heads/{branch}", path)


def read_at(repo: GitRepo, ref: str, path: str) -> str | None:
    """``path`` as committed at ``ref`` (strict UTF-8), or None if it is not there."""
    return read_all(repo, ref, [path]).get(path)


def read_all(repo: GitRepo, ref: str, paths: list[str]) -> dict[str, str]:
    """Each of ``paths`` committed at ``ref`` (strict UTF-8), in one request to git: a path
    that is not there is left out."""
    texts = {}
    for path, data in repo.read_blobs(ref, paths, sys.maxsize).items():
        too_large(path, len(data))
        try:
            texts[path] = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(path, "(file)", "is not UTF-8 text") from exc
    return texts


def load_governance(repo: GitRepo, branch: str, sections: bool) -> Governance:
    """The governance files as committed on ``branch`` (never the working tree), all three
    from the same commit even if the branch moves while they are read."""
    commit = repo.rev_parse(f"refs/heads/{branch}")
    if commit is None:
        raise ConfigError("factory.yaml", "production_branch", f"branch {branch!r} has no commits")
    return governance_at(repo, commit, f"on the production branch {branch!r}", sections)


def governance_at(repo: GitRepo, commit: str, where: str, sections: bool = True) -> Governance:
    """The governance files as committed at ``commit`` (``where``: that commit, in problems);
    ``sections``: whether mission.md's are checked (a command showing no mission skips it)."""
    texts = read_all(repo, commit, list(GOVERNANCE_FILES))
    problems = [
        ConfigError(name, "(file)", f"missing {where}")
        for name in GOVERNANCE_FILES
        if name not in texts
    ]
    if problems:
        raise ConfigErrors(problems)
    problems += check_mission(texts["mission.md"]) if sections else []
    try:
        rules = parse_rules(texts["factory_rules.md"])
    except ConfigErrors as exc:
        problems += exc.problems
    if problems:
        raise ConfigErrors(problems)
    return Governance(
        mission=texts["mission.md"],
        rules_text=texts["factory_rules.md"],
        claude=texts["CLAUDE.md"],
        rules=rules,
        hashes={name: sha256(text) for name, text in texts.items()},
        commit=commit,
    )
