"""The shape of a change: what git may read in a worktree, and what a tree may hold
(docs/sandbox.md, "harness git", lists each refusal). Two checks, one gate (``tree_shape``):

- **Before git reads a worktree's untracked files**, the worktree is walked for ``.git``
  entries below its root, without following links or opening them: a nested repository would
  be recorded as a gitlink, and a ``.git`` file names *any* git directory on the host, which
  git would then open for the harness (``GitRepo`` refuses with ``UnsafeTree``).
- **On a tree about to become a pull request or to land**, read from the object database
  only: no gitlink, no change to ``.gitmodules``, nothing inside ``.git``, no link that is
  absolute or leaves the tree, and no path that names a protected path through a link
  (``.github -> ci`` makes ``ci/workflows/x.yml`` a workflow)."""

from __future__ import annotations

import bisect
import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from harness.errors import ErrorKind, GitError, StepFailed
from harness.globs import matching

if TYPE_CHECKING:  # the records (pydantic models) only when a gate is made: git needs none
    from harness.artifacts import GateResult


class TreeReader(Protocol):
    """What the tree checks need of ``harness.git.repo.GitRepo`` (which runs the worktree check
    itself, so this module cannot import it): git's raw output, trees and objects."""

    def git_bytes(self, *args: str, stdin: bytes | None = None) -> bytes | None: ...

    def tree(self, ref: str) -> dict[str, tuple[str, str]]: ...

    def objects(self, shas: list[str]) -> dict[str, tuple[str, bytes]]: ...


TREE_SHAPE = "tree_shape"
GITLINK = "160000"
SYMLINK = "120000"
MAX_SHOWN = 10
MAX_HOPS = 40  # links followed to resolve one path (the kernel's own limit)
MAX_ALIASES = 200_000  # paths visited through links before the tree is refused as a maze


def describe(problems: list[str]) -> str:
    if not problems:
        return "no nested repository, submodule, link out of the tree or alias of a protected path"
    more = f"; and {len(problems) - MAX_SHOWN} more" if len(problems) > MAX_SHOWN else ""
    return "; ".join(problems[:MAX_SHOWN]) + more


def gate(problems: list[str]) -> GateResult:
    """The ``tree_shape`` gate: passed when ``problems`` is empty, each failing entry listed."""
    from harness.artifacts import GateResult

    return GateResult(name=TREE_SHAPE, passed=not problems, evidence=describe(problems))


class UnsafeTree(StepFailed):
    """A worktree or tree git must not read or land: the ``tree_shape`` gate failed, each
    failing entry in its evidence."""

    def __init__(self, problems: list[str], say_why: bool = False) -> None:
        """``say_why``: the evidence in the message too, where nothing else shows the gate."""
        from harness.artifacts import GateReport

        refused = gate(problems)
        report = GateReport(gates=[refused], passed=False)
        why = f" {TREE_SHAPE}: {refused.evidence}" if say_why else ""
        super().__init__(f"{report.refusal()}{why}", report, ErrorKind.GATE)


def nested_git(root: Path, skip: Iterable[Path]) -> list[str]:
    """Every ``.git`` entry below ``root`` (its own ``.git`` link aside), found by walking the
    folders without following links and without reading any entry; ``skip``: folders of the
    harness's own that may lie inside."""
    skipped = {Path(p) for p in skip}
    problems: list[str] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            path = Path(entry.path)
            if entry.name.casefold() == ".git":
                if folder != root:
                    problems.append(_nested(path.relative_to(root).as_posix(), entry))
                continue
            if entry.is_dir(follow_symlinks=False) and path not in skipped:
                stack.append(path)
    return sorted(problems)


def _nested(rel: str, entry: os.DirEntry[str]) -> str:
    if entry.is_symlink():
        return f"{rel}: a .git link below the worktree's root"
    if entry.is_dir(follow_symlinks=False):
        return f"{rel}: a nested repository (git would record it as a submodule)"
    return f"{rel}: a .git file below the worktree's root (it names another git directory)"


def refuse_nested(root: Path, skip: Iterable[Path]) -> None:
    problems = nested_git(root, skip)
    if problems:
        raise UnsafeTree(problems)


@dataclass(frozen=True)
class Tree:
    """A commit's tree as git stores it: every entry's mode, the targets of its links."""

    modes: dict[str, str]  # path -> mode (files, links, gitlinks; folders are implied)
    links: dict[str, str]  # link path -> its target
    paths: list[str]  # sorted, for prefix look-ups

    def under(self, folder: str) -> list[str]:
        start = bisect.bisect_left(self.paths, folder + "/")
        end = bisect.bisect_left(self.paths, folder + "0")  # "0" sorts right after "/"
        return self.paths[start:end]

    def resolve(self, path: str) -> str | None:
        """The real path ``path`` names in the tree, links followed; ``None`` when it leaves
        the tree, enters ``.git``, is absolute or loops."""
        parts = path.split("/")
        out = list[str]()
        hops = 0
        while parts:
            name = parts.pop(0)
            if name in ("", "."):
                continue
            if name == "..":
                if not out:
                    return None
                out.pop()
                continue
            out.append(name)
            target = self.links.get("/".join(out))
            if target is not None:
                hops += 1
                if hops > MAX_HOPS or target.startswith("/"):
                    return None
                out.pop()
                parts = target.split("/") + parts
        if any(p.casefold() == ".git" for p in out):
            return None
        return "/".join(out)


def read_tree(repo: TreeReader, ref: str) -> Tree:
    """The tree of ``ref`` from the object database (``GitRepo.tree``): no worktree."""
    entries = repo.tree(ref)
    modes = {path: mode for path, (mode, _) in entries.items()}
    link_shas = {path: sha for path, (mode, sha) in entries.items() if mode == SYMLINK}
    contents = repo.objects(list(link_shas.values()))
    links = {
        path: contents[sha][1].decode("utf-8", "surrogateescape") if sha in contents else ""
        for path, sha in link_shas.items()
    }
    return Tree(modes, links, sorted(modes))


def changed_modes(
    repo: TreeReader, base: str, head: str, merge_base: bool = False
) -> dict[str, tuple[str, str]]:
    """Every path whose entry differs between the trees of ``base`` (``merge_base``: of its
    merge base with ``head``) and ``head``: (old mode, new mode), ``000000`` where absent.
    Read with ``-z`` (names exact) by plumbing, which no ``diff.*`` setting changes."""
    since = ["--merge-base"] if merge_base else []
    out = repo.git_bytes("diff-tree", "-r", "-z", "--no-renames", "--no-abbrev", *since, base, head)
    if out is None:
        raise GitError(f"git diff-tree: cannot compare {base} and {head}")
    fields = out.split(b"\0")
    changed: dict[str, tuple[str, str]] = {}
    for meta, raw in zip(fields[0::2], fields[1::2], strict=False):
        parts = meta.decode().lstrip(":").split(" ")
        if len(parts) == 5:
            changed[raw.decode("utf-8", "surrogateescape")] = (parts[0], parts[1])
    return changed


def tree_problems(repo: TreeReader, base: str, head: str, protected: list[str]) -> list[str]:
    """What ``head`` holds that ``base`` did not and no change may bring (see the module)."""
    return shape_problems(read_tree(repo, head), changed_modes(repo, base, head), protected)


def shape_problems(
    tree: Tree, changed: dict[str, tuple[str, str]], protected: list[str]
) -> list[str]:
    problems: list[str] = []
    for path, (old, new) in sorted(changed.items()):
        names = [p.casefold() for p in path.split("/")]
        if ".git" in names:
            problems.append(f"{path}: a path inside a .git folder")
        if names[-1] == ".gitmodules":
            problems.append(f"{path}: a change to .gitmodules (submodules are not accepted)")
        if GITLINK in (old, new):
            problems.append(f"{path}: a gitlink (a submodule's commit)")
        target = tree.links.get(path)
        if target is not None:
            if target.startswith("/"):
                problems.append(f"{path}: a link to the absolute path {target}")
            elif tree.resolve(path) is None:
                problems.append(f"{path}: a link that leads out of the tree ({target})")
    return problems + _aliases(tree, set(changed), protected)


def _aliases(tree: Tree, changed: set[str], protected: list[str]) -> list[str]:
    """Paths reached through links whose visible name is protected (where the link or the
    file is part of the change), or whose real one is (where a link of the change leads)."""
    problems: set[str] = set()
    touched = sorted(changed)
    # (the path as seen, the folder or file it really is, links of the change on the way,
    # the real folders walked so far: a link back into one of them is a loop, not followed)
    queue: deque[tuple[str, str | None, bool, tuple[str, ...]]] = deque(
        (link, tree.resolve(link), link in changed, ()) for link in sorted(tree.links)
    )
    seen = 0
    while queue:
        visible, real, via_new, chain = queue.popleft()
        if real is None or not (via_new or _any_under(touched, real)):
            continue
        for shown, path in [(visible, real), *_inside(tree, visible, real)]:
            seen += 1
            if seen > MAX_ALIASES:
                return [*sorted(problems), f"links make more than {MAX_ALIASES:,} paths"]
            if path in tree.links and shown != visible:
                nxt = tree.resolve(path)
                if nxt is not None and not _loops(nxt, (*chain, real)):
                    queue.append((shown, nxt, via_new or path in changed, (*chain, real)))
            elif path in tree.modes and shown != path:
                problem = _protected_alias(shown, path, via_new, path in changed, protected)
                if problem:
                    problems.add(problem)
    return sorted(problems)


def _inside(tree: Tree, visible: str, real: str) -> list[tuple[str, str]]:
    """(path as seen through ``visible``, real path) for every entry under the folder ``real``."""
    if real == "":
        return [(f"{visible}/{p}", p) for p in tree.paths]
    return [(visible + p[len(real) :], p) for p in tree.under(real)]


def _any_under(paths: list[str], real: str) -> bool:
    """Whether the sorted ``paths`` hold ``real`` or anything under it."""
    if real == "":
        return bool(paths)
    exact = bisect.bisect_left(paths, real)
    below = bisect.bisect_left(paths, real + "/")
    return (exact < len(paths) and paths[exact] == real) or (
        below < len(paths) and paths[below].startswith(real + "/")
    )


def _loops(real: str, chain: tuple[str, ...]) -> bool:
    return any(real == c or real == "" or c.startswith(real + "/") for c in chain)


def _protected_alias(
    shown: str, real: str, via_new: bool, file_changed: bool, protected: list[str]
) -> str | None:
    if (via_new or file_changed) and (hits := matching(shown, protected)):
        return f"{shown} (really {real}, through a link) matches protected {hits[0]}"
    if via_new and (hits := matching(real, protected)):
        return f"{shown} leads through a link to {real}, which matches protected {hits[0]}"
    return None
