"""Git for rehearsals (``factory backtest``): reading a branch's history and the fixes in it,
and building a scratch repository that holds one commit of another repository and nothing
after it.

A scratch repository is bare and new: it receives the one commit it is built at with the
history before it, never after (no agent working in it can find the fix or its tests), then
one commit on top that puts the governance files in place. Nothing here writes to the
repository it reads from."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass

from harness.errors import GitError
from harness.git.repo import GitRepo
from harness.git.shape import GITLINK

# what GitHub reads as closing an issue in a commit message ("Fixes #12", "closes #3, #4")
_CLOSES = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b:?\s+((?:#\d+(?:\s*,\s*|\s+and\s+)?)+)",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"#(\d+)")
BASE_REF = "refs/backtest/base"


@dataclass(frozen=True)
class Fix:
    """A first-parent commit of a branch, when it was committed (seconds since the epoch),
    and the issues its message says it closes."""

    sha: str
    parent: str
    subject: str
    issues: tuple[int, ...]
    time: int = 0


def closed_issues(message: str) -> tuple[int, ...]:
    """The issue numbers a commit message closes (``Fixes #N``, ``Closes #N``,
    ``Resolves #N``, and the other forms GitHub reads), in order, each once."""
    numbers = (int(n) for match in _CLOSES.finditer(message) for n in _NUMBER.findall(match[1]))
    return tuple(dict.fromkeys(numbers))  # in order, each once


def first_parents(repo: GitRepo, branch: str) -> list[Fix]:
    """Every first-parent commit of ``branch`` (newest first) that has a parent to rebuild at,
    with the issues its message closes (none for most)."""
    out = repo.git_bytes(
        "log",
        "--first-parent",
        "-z",
        "--format=%H%x1f%P%x1f%ct%x1f%B",
        f"refs/heads/{branch}",
        "--",
    )
    if out is None:
        raise GitError(f"git log: cannot read branch {branch}")
    fixes: list[Fix] = []
    for record in out.decode("utf-8", "replace").split("\0"):
        sha, _, rest = record.strip("\n").partition("\x1f")
        parents, _, rest = rest.partition("\x1f")
        when, _, message = rest.partition("\x1f")
        issues = closed_issues(message)
        if sha and parents.split():
            subject = message.strip().splitlines()[0] if message.strip() else ""
            fixes.append(Fix(sha, parents.split()[0], subject, issues, int(when)))
    return fixes


def file_modes(repo: GitRepo, commit: str, paths: list[str]) -> dict[str, str]:
    """The mode (``100644``, ``100755``, ``120000``) of each of ``paths`` that is a file (or
    a link) at ``commit``, from its tree (``GitRepo.tree``)."""
    entries = repo.tree(commit) if paths else {}
    return {p: entries[p][0] for p in paths if p in entries and entries[p][0] != GITLINK}


def fetch_commit(repo: GitRepo, source: str, sha: str, ref: str) -> None:
    """Bring commit ``sha`` of ``source`` (a repository's path or URL), with its history and
    nothing else, into ``repo`` as ``ref``."""
    repo.git("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", source, f"+{sha}:{ref}")
    if repo.rev_parse(ref) != sha:
        raise GitError(f"git fetch: {sha[:12]} did not arrive from {source}")


def mirror(repo: GitRepo, url: str) -> None:
    """Every branch and tag of ``url`` into the bare repository ``repo`` (a local copy of a
    remote suite's history, read from then on)."""
    args = ["fetch", "--quiet", "--no-write-fetch-head", "--prune", url]
    code, _, err = repo._run([*args, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"])
    if code != 0:  # git's first fatal line says why (the last is boilerplate about access)
        said = [
            line.removeprefix("fatal: ") for line in err.splitlines() if line.startswith("fatal:")
        ]
        raise GitError(f"git fetch: {said[0] if said else err.strip() or code}")


def commit_over(
    repo: GitRepo, base: str, files: dict[str, tuple[str, bytes]], drop: list[str], message: str
) -> str:
    """A commit on ``base`` whose tree is ``base``'s with ``files`` (path -> (mode, bytes))
    written and ``drop`` removed; no ref moves."""
    with tempfile.TemporaryDirectory(prefix="factory-index-", ignore_cleanup_errors=True) as folder:
        index = {"GIT_INDEX_FILE": f"{folder}/index"}
        repo.git("read-tree", base, env=index)
        for path in drop:
            repo.git("update-index", "--force-remove", "--", path, env=index)
        for path, (mode, data) in sorted(files.items()):
            blob = repo.git_bytes("hash-object", "-w", "--stdin", stdin=data)
            if blob is None:
                raise GitError(f"git hash-object: cannot store {path}")
            entry = f"{mode},{blob.decode().strip()},{path}"
            # --replace: a file where a folder goes (or the reverse) gives way, as git would
            repo.git("update-index", "--add", "--replace", "--cacheinfo", entry, env=index)
        tree = repo.git("write-tree", env=index).strip()
    return repo.commit_of(tree, base, message)


def set_ref(repo: GitRepo, ref: str, sha: str) -> None:
    """Point ``ref`` (``refs/heads/main``, ``refs/backtest/…``) at ``sha``."""
    repo.git("update-ref", ref, sha)
