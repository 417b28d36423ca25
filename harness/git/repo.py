"""``GitRepo``: git operations on a repository.

Git is always called with argument lists (never through a shell), in an environment and
with command-line configuration the harness controls (``harness.git.env``), and only while
the repository's own configuration is the one pinned when the run began
(``harness.git.integrity``): nothing in a repository can run code through git.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from harness.caches import PROCESS, Memo
from harness.errors import GitError
from harness.git import integrity, shape
from harness.git.env import HARDENING, run_git
from harness.git.reader import Found, Reader, reader

PATCH_BYTES = 5_000_000  # a change's patch as the gates and the reviewer read it

# a linked worktree's own refs: its HEAD and pseudo-refs, and three namespaces (gitglossary)
PER_WORKTREE = re.compile(r"(?:[A-Z_]*HEAD(?:$|[\^~:@])|refs/(?:bisect|worktree|rewritten)/)")

# commands that read a working tree's untracked files: in a linked worktree (where agents
# work) none runs before the tree is checked for ``.git`` entries below its root
READS_WORKTREE = HARDENING.reads_worktree


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


class CheckoutNotClean(GitError):
    """The production branch is checked out in a working tree with changes: not moved."""


class MergeConflict(GitError):
    """Two commits do not merge cleanly: ``paths`` conflict."""

    def __init__(self, paths: list[str]) -> None:
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if paths[5:] else "")
        super().__init__(f"a text conflict in {shown}")
        self.paths = paths


@dataclass(frozen=True)
class FileChange:
    """One file a change adds, modifies or deletes, with its sizes in bytes."""

    path: str
    status: str  # A added, M modified, D deleted, T type changed
    old_size: int  # 0 when added
    new_size: int  # 0 when deleted
    binary: bool  # git's numstat shows no lines for it
    added_lines: int  # a binary file counts as one line added
    deleted_lines: int
    old_mode: str = "000000"  # git's file mode before (000000 when added)
    new_mode: str = "000000"  # and after (000000 when deleted)

    @property
    def added_bytes(self) -> int:
        """What the change adds by this file: its size if new, its growth if changed."""
        return max(0, self.new_size - self.old_size)


class GitRepo:
    """A repository on disk (its main working tree, any worktree of it, or a bare one)."""

    def __init__(self, path: Path | str, own: Sequence[Path] = ()) -> None:
        """``own``: the harness's own folders in the checkout (never the maintainer's changes)."""
        self.path = Path(path).resolve()
        self.own = tuple(Path(p).resolve() for p in own)
        dotgit = self.path / ".git"
        bare = (self.path / "HEAD").is_file() and (self.path / "objects").is_dir()
        if not (dotgit.is_dir() or dotgit.is_file() or bare):
            raise GitError(f"{self.path}: not a git repository")
        self.linked = dotgit.is_file()  # a linked worktree: its files may be an agent's

    def _run(
        self, args: list[str], env: dict[str, str] | None = None, stdin: bytes | None = None
    ) -> tuple[int, bytes, str]:
        """(exit code, stdout, stderr) of ``git <args>``, after the integrity check."""
        self._checked()
        if self.linked and args and args[0] in READS_WORKTREE:
            shape.refuse_nested(self.path, self.own)  # before git opens what an agent named
        return run_git(args, cwd=self.path, env=env, stdin=stdin)

    def _checked(self) -> None:
        """Before git is asked anything: the repository is still there and passes the
        integrity check."""
        if not self.path.is_dir():
            raise GitError(f"{self.path}: not a git repository")
        integrity.before_git(self.path)

    def git(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run ``git <args>``; raise ``GitError`` on failure. ``env`` adds variables to this
        one call's environment (never to argv or config). One trailing newline is dropped."""
        code, out, err = self._run(list(args), env)
        if code != 0:
            detail = err.strip().splitlines()
            raise GitError(f"git {args[0] if args else ''}: {detail[-1] if detail else code}")
        return _text(out).removesuffix("\n")

    def git_bytes(self, *args: str, stdin: bytes | None = None) -> bytes | None:
        """The raw output of ``git <args>``, or ``None`` if git failed."""
        code, out, _ = self._run(list(args), stdin=stdin)
        return out if code == 0 else None

    def find(self, names: list[str]) -> list[Found | None]:
        """What each of ``names`` (a ref, ``<commit>:<path>`` …) resolves to from the process's
        reader, ``None``: nothing, nor a linked worktree's index or reflog (``:path``, ``@``),
        a name starting with ``-`` or holding a newline (``_qualified``)."""
        own = self._worktree_prefix() if self.linked else ""
        asked = {n: _qualified(n, own) for n in names if n and "\n" not in n}
        wanted = sorted({q for q in asked.values() if q})
        answers = dict(zip(wanted, self._reader().find(wanted), strict=True)) if wanted else {}
        return [answers.get(asked.get(name) or "") for name in names]

    def _worktree_prefix(self) -> str:
        """``worktrees/<id>/``: how the repository names this linked worktree's own refs."""
        gitdir = integrity.git_dir_of(self.path)
        if gitdir.parent != integrity.common_dir_of(self.path) / "worktrees":
            raise GitError(f"{self.path}: its .git link names no worktree of its repository")
        return f"worktrees/{gitdir.name}/"

    def _reader(self, contents: bool = False) -> Reader:
        """The process's reader of this repository (or a linked worktree's), checked first."""
        self._checked()
        if not self.linked:
            return reader(self.path, contents)
        common = integrity.common_dir_of(self.path)
        return reader(common.parent if common.name == ".git" else common, contents)

    def objects(self, shas: list[str]) -> dict[str, tuple[str, bytes]]:
        """The type and bytes of each object of ``shas`` that exists (ask for known sizes only)."""
        wanted = sorted({s for s in shas if s and not s.startswith("-") and "\n" not in s})
        read = self._reader(contents=True).read(wanted) if wanted else []
        return {sha: got for sha, got in zip(wanted, read, strict=True) if got is not None}

    def rev_parse(self, ref: str, peel: str = "^{commit}") -> str | None:
        """The commit SHA ``ref`` names (``peel``: what of it), or ``None`` if it names nothing."""
        found = self.find([ref + peel])[0] if ref else None
        return found.sha if found is not None else None

    def commits(self, *refs: str) -> list[str | None]:
        """The commit each of ``refs`` names (``None``: none), in one request."""
        found = self.find([f"{ref}^{{commit}}" if ref else "" for ref in refs])
        return [f.sha if f is not None else None for f in found]

    def first_parents(self, tip: str, limit: int) -> list[str]:
        """``tip`` and its first parents, newest first, at most ``limit``: what a branch that
        only ever moved by merges onto it held, one production after another."""
        return self.git("rev-list", "--first-parent", f"--max-count={limit}", tip).split()

    def is_ancestor(self, older: str, newer: str) -> bool:
        try:
            self.git("merge-base", "--is-ancestor", older, newer)
        except GitError:
            return False
        return True

    def branch_exists(self, name: str) -> bool:
        return self.rev_parse(f"refs/heads/{name}") is not None

    def read_blob(self, ref: str, path: str) -> bytes | None:
        """The bytes of the file ``path`` as committed on ``ref``, or ``None`` if absent
        (``read_blobs``: never filtered, ``cat-file`` applies no attribute and no driver)."""
        return self.read_blobs(ref, [path], sys.maxsize).get(path)

    def read_blobs(self, ref: str, paths: list[str], max_each: int) -> dict[str, bytes]:
        """The bytes of each of ``paths`` as committed on ``ref`` that is a file of at most
        ``max_each`` bytes (others are left out): sizes looked up first, then the contents."""
        commit = self.rev_parse(ref)
        wanted = [p for p in paths if p and "\n" not in p and not p.startswith("/")]
        if commit is None or not wanted:
            return {}
        small: dict[str, list[str]] = {}  # object -> the paths that hold it
        for path, blob in zip(wanted, self.find([f"{commit}:{p}" for p in wanted]), strict=True):
            if blob is not None and blob.type == "blob" and blob.size <= max_each:
                small.setdefault(blob.sha, []).append(path)
        if not small:
            return {}
        read = self.objects(list(small))
        return {path: read[sha][1] for sha, paths in small.items() if sha in read for path in paths}

    def tree(self, ref: str) -> dict[str, tuple[str, str]]:
        """Every entry of the tree ``ref`` names (``ls-tree -r``): path -> (mode, object), read
        folder by folder; a tree already read (its name is its content) is not read again."""
        root = self.find([f"{ref}^{{tree}}"])[0]
        if root is None:
            raise GitError(f"git: {ref} names no tree")
        trees = PROCESS.part(_Trees)
        entries: dict[str, tuple[str, str]] = {}
        level = [("", root.sha)]
        while level:
            missing = [sha for _, sha in level if trees.peek(sha) is None]
            for sha, (kind, data) in self.objects(missing).items():
                if kind == "tree":
                    trees.put(sha, _tree_entries(data, len(sha) // 2))
            below: list[tuple[str, str]] = []
            for folder, sha in level:
                listed = trees.peek(sha)
                if listed is None:
                    raise GitError(f"git: tree {sha} of {ref} cannot be read")
                for mode, name, entry in listed:
                    if mode == TREE_MODE:
                        below.append((f"{folder}{name}/", entry))
                    else:
                        entries[f"{folder}{name}"] = (mode, entry)
            level = below
        return entries

    def last_change(self, ref: str, paths: Sequence[str]) -> str | None:
        """The newest commit of ``ref``'s first-parent line that changed one of the top-level
        files ``paths`` (None: none did)."""
        specs = [f":(top,literal){p}" for p in paths]
        found = self.git("log", "-1", "--first-parent", "--format=%H", ref, "--", *specs)
        return found.strip() or None

    def list_tree(self, ref: str, prefix: str = "") -> list[str]:
        """Paths of all files committed on ``ref`` under ``prefix``."""
        if self.rev_parse(ref) is None:
            raise GitError(f"git ls-tree: {ref} names no commit")
        files = (p for p, (mode, _) in self.tree(ref).items() if mode != shape.GITLINK)
        return sorted(p for p in files if p.startswith(prefix))

    # -- writing ------------------------------------------------------------------
    @classmethod
    def init(cls, path: Path | str, branch: str, bare: bool = False) -> GitRepo:
        """Create a repository at ``path`` (``bare``: no checkout), its first branch ``branch``."""
        Path(path).mkdir(parents=True, exist_ok=True)
        args = ["init", "--quiet", *(["--bare"] if bare else []), f"--initial-branch={branch}"]
        code, _, err = run_git(args, cwd=Path(path))
        if code != 0:
            raise GitError(f"git init: {err.strip()}")
        return cls(path)

    def commit_all(self, message: str) -> str | None:
        """Stage everything (deletions too) and commit; ``None`` if there was nothing to commit."""
        self.git("add", "--all")
        if not self.git("status", "--porcelain").strip():
            return None
        self.git("commit", "--no-verify", "--quiet", "-m", message)
        return self.rev_parse("HEAD")

    def head_branch(self) -> str | None:
        out = self.git_bytes("symbolic-ref", "--quiet", "--short", "HEAD")
        return (_text(out).strip() or None) if out is not None else None  # None: detached

    def tree_change(self, base: str, tree: str) -> tuple[list[FileChange], str]:
        """``change`` from commit ``base`` to ``tree``, not from a merge base, its patch cut at
        ``PATCH_BYTES``; kept by the process (the reviewer's diff and the gates' are one git
        process)."""
        commit, to = self.find([f"{base}^{{commit}}", f"{tree}^{{tree}}"])
        if commit is None or to is None:
            raise GitError(f"git diff: cannot compare {base} and {tree}")
        key = (integrity.common_dir_of(self.path), commit.sha, to.sha)
        changes, patch = PROCESS.part(_Changes).get(key, lambda: self.change(commit.sha, to.sha))
        return list(changes), patch  # the kept list stays as it was read

    def change(
        self, base: str, head: str, patch_max_bytes: int = PATCH_BYTES
    ) -> tuple[list[FileChange], str]:
        """Every file ``head`` (a commit or a tree) changes from ``base`` itself, not from a
        merge base, both sides' sizes read from the object database (no attribute or filter
        can hide a byte), and the patch cut at ``patch_max_bytes``. One ``git diff -z``."""
        raw = self.git_bytes(
            "diff", "--raw", "--numstat", "--patch", "--no-color", "-z", "--no-renames",
            "--no-abbrev", "--no-textconv", "--no-ext-diff", base, head,
        )  # fmt: skip
        if raw is None:
            raise GitError(f"git diff: cannot compare {base} and {head}")
        # an empty field ends the records, and the patch follows as text
        records, _, patch_bytes = raw.partition(b"\0\0")
        rows: list[tuple[str, str, str, str, str, str]] = []  # status, modes, shas, path
        lines: dict[str, tuple[str, str]] = {}  # path -> (added, deleted) as numstat says
        fields = iter(_text(records).split("\0"))
        for field in fields:
            if field.startswith(":"):  # raw: ":<modes> <shas> <status>" then the path
                parts = field[1:].split(" ")
                path = next(fields, "")
                if len(parts) == 5:
                    rows.append((parts[4][:1], parts[0], parts[1], parts[2], parts[3], path))
            elif field.count("\t") >= 2:  # numstat: "<added>\t<deleted>\t<path>"
                added, deleted, path = field.split("\t", 2)
                lines[path] = (added, deleted)
        # an absent side (all zeros) is asked nothing: its size is 0
        shas = sorted({sha for *_, old, new, _ in rows for sha in (old, new) if sha.strip("0")})
        sizes = {sha: f.size for sha, f in zip(shas, self.find(shas), strict=True) if f}
        changes = []
        for status, old_mode, new_mode, old, new, path in rows:
            added, deleted = lines.get(path, ("0", "0"))
            changes.append(
                FileChange(
                    path=path,
                    status=status,
                    old_size=sizes.get(old, 0),
                    new_size=sizes.get(new, 0),
                    binary=added == "-",
                    added_lines=int(added) if added.isdigit() else 1,
                    deleted_lines=int(deleted) if deleted.isdigit() else 0,
                    old_mode=old_mode,
                    new_mode=new_mode,
                )
            )
        return changes, _cut(_text(patch_bytes), patch_max_bytes)

    def move_to(self, sha: str) -> None:
        """Point this worktree's branch or HEAD at ``sha`` (``reset --keep``: refuses rather
        than overwrite a local change or an untracked file)."""
        # the sandbox's uid owns the files: refresh the stat data, or the reset refuses
        with contextlib.suppress(GitError):
            self.git("update-index", "-q", "--refresh")
        self.git("reset", "--quiet", "--keep", sha)

    def changed_paths(self, base: str, head: str) -> list[str]:
        """Every path ``head`` changes since its merge base with ``base``; exact names
        (``shape.changed_modes``: git's plumbing, ``-z``)."""
        return sorted(shape.changed_modes(self, base, head, merge_base=True))

    def paths_between(self, a: str, b: str) -> list[str]:
        """Every path whose entry differs between the trees of ``a`` and ``b`` (compared
        directly, not from a merge base); exact names."""
        return sorted(shape.changed_modes(self, a, b))

    def diff_text(self, base: str, head: str, max_bytes: int) -> str:
        """The change commit ``head`` makes since its merge base with ``base``."""
        text = self.git("diff", "--no-color", "--no-ext-diff", "--no-textconv", f"{base}...{head}")
        return _cut(text, max_bytes)

    def tree_diff(self, base: str, tree: str) -> str:
        """The patch of ``tree_change`` from commit ``base`` to ``tree`` (e.g. the tested one),
        cut as ``diff_text``'s."""
        return _cut(self.tree_change(base, tree)[1], 200_000)

    def _checked_out_in(self, branch: str) -> Path | None:
        """The working tree where ``branch`` is checked out, if any."""
        current: Path | None = None
        for line in self.git("worktree", "list", "--porcelain", "-z").split("\0"):
            if line.startswith("worktree "):
                current = Path(line.removeprefix("worktree "))
            elif line == f"branch refs/heads/{branch}" and current is not None:
                return current
        return None

    def merge_branch(self, base: str, branch: str, expected_head_sha: str, message: str) -> str:
        """Merge ``branch`` into ``base`` without a checkout; refuse a stale head, a conflict
        or a base that moved meanwhile (``advance``)."""
        head = self.rev_parse(f"refs/heads/{branch}")
        if head != expected_head_sha:
            raise GitError(f"merge: {branch} is at {head}, expected {expected_head_sha}")
        old = self.rev_parse(f"refs/heads/{base}")
        if old is None:
            raise GitError(f"merge: branch {base} does not exist")
        try:
            new = self.merge_commit(old, head, message)
        except GitError as exc:
            raise GitError(f"merge: {branch} conflicts with {base}") from exc
        self.advance(base, old, new, message)
        return new

    def merged_tree(self, base_sha: str, head_sha: str) -> tuple[str, list[str]]:
        """The tree of ``head_sha`` merged into ``base_sha`` and the paths that conflict (left
        between git's markers in their files). No ref, index or checkout is touched."""
        args = ["merge-tree", "--write-tree", "--name-only", "--no-messages", "-z"]
        code, out, err = self._run([*args, base_sha, head_sha])
        fields = _text(out).split("\0")
        if code not in (0, 1) or not fields[0]:
            detail = err.strip().splitlines()
            raise GitError(f"git merge-tree: {detail[-1] if detail else code}")
        return fields[0], sorted({path for path in fields[1:] if path})

    def merge_commit(self, base_sha: str, head_sha: str, message: str) -> str:
        """The merge commit of two commits, made without touching any ref or checkout;
        ``MergeConflict`` when they do not merge cleanly."""
        tree, conflicts = self.merged_tree(base_sha, head_sha)
        if conflicts:
            raise MergeConflict(conflicts)
        return self.git("commit-tree", tree, "-p", base_sha, "-p", head_sha, "-m", message)

    def conflicted_commit(
        self, base_sha: str, head_sha: str, message: str
    ) -> tuple[str, list[str]]:
        """A commit on ``base_sha`` (its one parent) holding ``head_sha`` merged in, conflicts
        between markers, and the paths that conflict. No ref or checkout moves."""
        tree, conflicts = self.merged_tree(base_sha, head_sha)
        return self.commit_of(tree, base_sha, message), conflicts

    def commit_of(self, tree: str, parent: str, message: str) -> str:
        """A commit of ``tree`` on ``parent``; no ref, index or checkout moves."""
        return self.git("commit-tree", tree, "-p", parent, "-m", message).strip()

    def revert_commit(self, merge_sha: str, message: str) -> str:
        """A commit on top of ``merge_sha`` restoring its first parent's tree (no ref moves)."""
        tree = self.tree_of(f"{merge_sha}^1")
        if tree is None:
            raise GitError(f"revert: {merge_sha[:12]} has no parent")
        return self.commit_of(tree, merge_sha, message)

    def advance(self, branch: str, old: str, new: str, message: str) -> None:
        """Move ``branch`` from ``old`` to ``new`` (refused if it moved meanwhile). A working
        tree that has ``branch`` checked out moves with it, files first, as ``git pull`` would;
        one with an uncommitted change, or an untracked file the move would write, stops it
        (``CheckoutNotClean``): never a ref ahead of its index, whose next commit would
        quietly revert what the factory merged."""
        current = self.rev_parse(f"refs/heads/{branch}")
        if current != old:
            raise GitError(f"{branch} is at {(current or 'nothing')[:12]}, expected {old[:12]}")
        checkout = self._checked_out_in(branch)
        if checkout is None:
            self.git("update-ref", "-m", message, f"refs/heads/{branch}", new, old)
            return
        tree = GitRepo(checkout)
        inside = [p.relative_to(checkout) for p in self.own if checkout in p.parents]
        mine = [f":(exclude,literal){rel}" for rel in inside]
        status = tree.git("status", "--porcelain", "-z", "--untracked-files=all", "--", ".", *mine)
        entries = [(e[:2], e[3:]) for e in status.split("\0") if e[2:3] == " "]
        moved = set(self.paths_between(old, new))
        changed = [path for code, path in entries if code != "??"]
        blocking = changed + [p for code, p in entries if code == "??" and _under(p, moved)]
        if blocking:
            raise CheckoutNotClean(_not_moved(branch, checkout, old, new, blocking, changed))
        try:  # the index's stat data first (a copied or touched checkout), then the files
            tree.git("update-index", "-q", "--refresh")
            tree.git("read-tree", "-m", "-u", old, new)  # the checkout first, then the ref
        except GitError as exc:  # e.g. an untracked folder where the change writes a file
            raise CheckoutNotClean(
                _not_moved(branch, checkout, old, new, [str(exc).splitlines()[0]], [])
            ) from exc
        try:
            self.git("update-ref", "-m", message, f"refs/heads/{branch}", new, old)
        except GitError:
            tree.git("read-tree", "-m", "-u", new, old)  # the ref did not move: neither do files
            raise

    def revert_merge(self, branch: str, merge_sha: str, message: str) -> str:
        """Undo ``merge_sha`` with a new commit, only while it is still ``branch``'s head."""
        if self.rev_parse(f"refs/heads/{branch}") != merge_sha:
            raise GitError(f"revert: {branch} moved past {merge_sha[:12]}; revert it by hand")
        new = self.revert_commit(merge_sha, message)
        self.advance(branch, merge_sha, new, message)
        return new

    def stage_tree(self, exclude: list[str]) -> str:
        """Stage everything in this working tree (but ``exclude``) and return the tree SHA."""
        specs = [f":(exclude,literal){p}" for p in exclude]
        self.git("add", "--all", "--", ".", *specs)
        return self.git("write-tree").strip()

    def untracked(self, ignored: bool = False) -> list[str]:
        """Untracked paths, not ignored ones unless ``ignored`` (folders as one entry)."""
        standard = [] if ignored else ["--exclude-standard"]
        out = self.git("ls-files", "-z", "--others", *standard, "--directory")
        return [name.rstrip("/") for name in out.split("\0") if name]

    def tree_of(self, ref: str) -> str | None:
        """The tree SHA of commit ``ref``, or ``None`` if ``ref`` names no commit."""
        return self.rev_parse(ref, "^{commit}^{tree}")

    def working_diff(self, base: str) -> str:
        """The diff of this working tree (new files included) against ``base``, cut as
        ``diff_text``'s."""
        self.git("add", "--all")
        text = self.git("diff", "--cached", "--no-color", "--no-ext-diff", "--no-textconv", base)
        return _cut(text, 200_000)

    def commit_tree(
        self, tree: str, message: str, parent: str | None = None, staged: bool = False
    ) -> str | None:
        """Commit exactly ``tree`` (the tested one: later build artifacts stay out) on
        ``parent`` or HEAD and move HEAD there; ``None`` if HEAD has it. ``staged``: the index
        holds it."""
        head, head_tree = self.find(["HEAD^{commit}", "HEAD^{tree}"])
        current = head.sha if head is not None else None  # a commit has a tree
        if head_tree is not None and head_tree.sha == tree:
            return None
        parent = parent or current
        args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
        new = self.git(*args).strip()
        self.git(
            "update-ref", "-m", "factory: commit", "HEAD", new, *([current] if current else [])
        )
        if not staged:
            self.git("read-tree", tree)
        return new


def _cut(diff: str, max_bytes: int) -> str:
    if len(diff) > max_bytes:
        return diff[:max_bytes] + f"\n[diff cut at {max_bytes} bytes of {len(diff)}]"
    return diff


def _under(path: str, moved: set[str]) -> bool:
    """Whether the move writes ``path``, or a file where ``path``'s folders are."""
    return path in moved or any(str(folder) in moved for folder in PurePosixPath(path).parents)


def _not_moved(
    branch: str, checkout: Path, old: str, new: str, blocking: list[str], changed: list[str]
) -> str:
    more = f" and {len(blocking) - 3} more" if blocking[3:] else ""
    what = "uncommitted changes" if changed else "untracked files the change would overwrite"
    return (
        f"{branch} is checked out in {checkout} with {what} ({', '.join(blocking[:3])}{more}); "
        f"the factory left {branch} at {old[:12]} instead of moving it to {new[:12]} under "
        "them. Commit, stash (`git stash -u`) or move them, then run the factory again"
    )


TREE_MODE = "040000"  # a folder, as ls-tree prints it


def _qualified(name: str, worktree: str) -> str | None:
    """``name`` as the repository's reader must be asked it (``GitRepo.find``); ``worktree``:
    the prefix of a linked worktree's own refs (``worktrees/<id>/``), empty in a main one."""
    if name.startswith("-") or (worktree and name.startswith((":", "@"))):
        return None
    return f"{worktree}{name}" if worktree and PER_WORKTREE.match(name) else name


class _Changes(Memo[tuple[list[FileChange], str]]):
    """``tree_change``'s answers, by repository, commit and tree."""

    def __init__(self) -> None:
        super().__init__(limit=32)


class _Trees(Memo[list[tuple[str, str, str]]]):
    """Tree objects read, by object name: their entries (mode, name, object)."""

    def __init__(self) -> None:
        super().__init__(limit=65_536)


def _tree_entries(data: bytes, size: int) -> list[tuple[str, str, str]]:
    """A tree object's entries: ``<mode> <name>\\0<object's name, size bytes>`` each (20
    bytes, or 32 in a SHA-256 repository), the mode as ``ls-tree`` prints it (six digits)."""
    entries: list[tuple[str, str, str]] = []
    at = 0
    while at < len(data):
        space = data.index(b" ", at)
        end = data.index(b"\0", space)
        mode = data[at:space].decode().rjust(6, "0")
        name = data[space + 1 : end].decode("utf-8", "surrogateescape")
        entries.append((mode, name, data[end + 1 : end + 1 + size].hex()))
        at = end + 1 + size
    return entries


def added_lines(patch: str) -> dict[str, list[str]]:
    """Each file a patch (``git diff``) adds lines to, with those lines."""
    found: dict[str, list[str]] = {}
    for part in f"\n{patch}".split("\ndiff --git ")[1:]:
        head, _, hunks = part.partition("\n@@")
        path = head.partition("\n+++ b/")[2].partition("\n")[0]
        found[path] = [line[1:] for line in hunks.splitlines() if line.startswith("+")]
    return found
