"""``read_file``, ``list_files``, ``search``, ``write_file``, ``edit_file`` inside one worktree.

They run on the harness's own threads, so each one's work is bounded whatever the worktree
holds: ``read_file`` streams (it never holds more than it returns, and reads on from a line
``offset``), ``list_files`` and ``search`` walk at most ``MAX_VISITED`` entries, ``search``
reads at most ``MAX_SEARCH_BYTES`` and skips files over ``MAX_SEARCH_FILE``, and its
patterns are RE2's (linear in the text: no pattern can backtrack for days)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import re2  # type: ignore[import-untyped]

from harness.errors import ToolError
from harness.globs import gitignore
from harness.model.blocks import MAX_TOOL_RESULT, Handler
from harness.model.tools import Tool, by_name
from harness.sandbox import holding
from harness.tools.paths import relative, resolve_inside

MAX_WRITE = 1_000_000  # bytes write_file writes and edit_file edits
MAX_ENTRIES = 2000  # files list_files names
MAX_VISITED = 50_000  # entries list_files or search walks before it stops
MAX_MATCHES = 200
MAX_SEARCH_FILE = 2_000_000  # bytes: larger files are not searched (their names are)
MAX_SEARCH_BYTES = 50_000_000  # bytes one search reads in all
MAX_SCAN = 1 << 30  # bytes read_file streams through to reach an offset
BLOCK = 1 << 20
NOTE_ROOM = 300  # of the output limit, kept for the note that says how to read on
# RE2's options wherever the harness compiles a pattern (search, the triage map's routes):
# a bad pattern is said where it is used, never logged by RE2 itself
RE2_OPTIONS = re2.Options()
RE2_OPTIONS.log_errors = False


# each tool's input, as its schema in workflows/tools.yaml has checked it


@dataclass(frozen=True)
class ReadFile:
    path: str
    offset: int = 1  # the first line shown
    limit: int | None = None  # at most this many lines


@dataclass(frozen=True)
class ListFiles:
    path: str = "."


@dataclass(frozen=True)
class Search:
    pattern: str
    path: str = "."


@dataclass(frozen=True)
class WriteFile:
    path: str
    content: str


@dataclass(frozen=True)
class EditFile:
    path: str
    old_text: str
    new_text: str


def cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, the note saying it was cut included."""
    if len(text) <= limit:
        return text
    note = f"\n[cut: {len(text):,} characters in all, the first {limit - NOTE_ROOM:,} shown]"
    return text[: limit - NOTE_ROOM] + note


def compile_pattern(pattern: str) -> Any:
    """An RE2 pattern, or a ``ToolError`` the model can act on."""
    try:
        return re2.compile(pattern, options=RE2_OPTIONS)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ToolError(
            f"pattern {pattern[:200]!r} is not a regular expression search can run: {detail}. "
            "search takes RE2 syntax, which runs in linear time: no backreferences (\\1) and no "
            "lookaround ((?=…), (?!…), (?<=…), (?<!…)); rewrite the pattern without them"
        ) from exc


def _seek_line(handle: BinaryIO, line: int) -> bool:
    """Put ``handle`` at the start of line ``line`` (1 is the first), reading blocks; False
    when the file has fewer lines."""
    need = line - 1
    scanned = 0
    while need:
        block = handle.read(BLOCK)
        if not block:
            return False
        scanned += len(block)
        if scanned > MAX_SCAN:
            raise ToolError(f"offset {line:,} lies past the first {MAX_SCAN:,} bytes of the file")
        found = block.count(b"\n")
        if found < need:
            need -= found
            continue
        at = -1
        for _ in range(need):
            at = block.index(b"\n", at + 1)
        handle.seek(at + 1 - len(block), os.SEEK_CUR)
        need = 0
    return True


# folders set-up and tools make, never the repository's own: not listed or searched unless
# asked for by path
ENVIRONMENTS = frozenset(
    (".venv", "venv", "node_modules", "__pycache__", ".tox", ".nox", ".mypy_cache",
     ".pytest_cache", ".ruff_cache", "site-packages", ".gradle", ".next")
)  # fmt: skip
Ignores = tuple[tuple[Path, Callable[[str], bool]], ...]


def _ignores(root: Path, folder: Path, above: Ignores = ()) -> Ignores:
    """``above`` and the ``.gitignore`` files from ``root`` down to ``folder`` (each read
    against its own folder); one too large or unreadable is not read."""
    found = list(above)
    for place in [folder, *folder.parents][: len(folder.relative_to(root).parts) + 1][::-1]:
        try:
            if (place / ".gitignore").stat().st_size <= MAX_SEARCH_FILE:
                text = (place / ".gitignore").read_text(encoding="utf-8", errors="replace")
                found.append((place, gitignore(text)))
        except (OSError, ValueError):
            continue
    return tuple(found)


class FileTools:
    """File tools confined to ``worktree``; every path is resolved before use."""

    def __init__(self, worktree: Path, ignored: list[str] | None = None) -> None:
        self.root = worktree.resolve()
        # of an answer (file content, a listing, matches), the note after it aside: what the
        # agent loop shows of a tool's answer, whole
        self.limit = MAX_TOOL_RESULT - NOTE_ROOM
        self.walk_cut = False  # the last walk stopped at MAX_VISITED entries
        self.left_out: list[str] = []  # what the last walk left out (set-up's, ignored)
        # new files written that a .gitignore keeps out of the change (the caller's list)
        self.ignored = [] if ignored is None else ignored

    def _walk(self, start: Path) -> Iterator[Path]:
        """Regular files under ``start`` (not ``.git``, no link followed), in path order; at
        most ``MAX_VISITED`` entries are looked at (``self.walk_cut`` then says so). What
        set-up makes is left out below ``start`` — environment folders (``ENVIRONMENTS``)
        and what a ``.gitignore`` names — and counted in ``self.left_out``."""
        self.walk_cut = False
        self.left_out = []
        visited = 0
        stack = [(start, _ignores(self.root, start.parent) if start != self.root else ())]
        while stack:
            folder, ignores = stack.pop()
            ignores = _ignores(folder, folder, ignores)
            try:
                with os.scandir(folder) as found:
                    entries = []
                    for entry in found:
                        visited += 1
                        if visited > MAX_VISITED:
                            self.walk_cut = True
                            break
                        entries.append(entry)
            except OSError:
                continue
            entries.sort(key=lambda e: e.name)
            entries = [e for e in entries if self._kept(e, ignores)]
            yield from (Path(e.path) for e in entries if e.is_file(follow_symlinks=False))
            if self.walk_cut:
                return
            folders = [e for e in entries if e.is_dir(follow_symlinks=False)]
            stack += [(Path(e.path), ignores) for e in reversed(folders)]

    def _kept(self, entry: os.DirEntry[str], ignores: Ignores) -> bool:
        if Path(entry.path).relative_to(self.root).parts[0].casefold() == ".git":
            return False  # neither listed nor counted as left out
        folder = entry.is_dir(follow_symlinks=False)
        if (folder and entry.name in ENVIRONMENTS) or any(
            ignored(os.path.relpath(entry.path, base) + ("/" if folder else ""))
            for base, ignored in ignores
        ):
            self.left_out.append(relative(self.root, Path(entry.path)) + ("/" if folder else ""))
            return False
        return True

    def _left_out(self) -> str:
        """What the answer says of what the walk left out."""
        if not self.left_out:
            return ""
        shown = ", ".join(self.left_out[:8])[:150] + (" …" if self.left_out[8:] else "")
        return (
            f"\n[left out, as what set-up makes: {len(self.left_out)} environment folders and "
            f"paths a .gitignore names ({shown}); give one as path to look inside]"
        )

    def read_file(self, data: ReadFile) -> str:
        path = resolve_inside(self.root, data.path)
        name = relative(self.root, path)
        if not path.is_file():
            raise ToolError(f"{name}: no such file")
        with path.open("rb") as handle:
            if b"\x00" in handle.read(8192):
                raise ToolError(f"{name}: binary file, not shown")
            handle.seek(0)
            if not _seek_line(handle, data.offset) or (data.offset > 1 and not handle.peek(1)):
                raise ToolError(f"{name} has fewer than {data.offset:,} lines")
            return self._lines(handle, name, data.offset, data.limit)

    def _lines(self, handle: BinaryIO, name: str, offset: int, limit: int | None) -> str:
        """Whole lines from ``offset`` while they fit the output limit (and ``limit``)."""
        shown: list[str] = []
        size = 0
        more = False
        while limit is None or len(shown) < limit:
            raw = handle.readline(self.limit + 1)
            if not raw:
                break
            text = raw.decode("utf-8", errors="replace")
            too_long = len(raw) > self.limit and not raw.endswith(b"\n")
            if size + len(text) > self.limit or too_long:
                if not shown:  # one line longer than the whole limit: its start
                    return (
                        f"{text[: self.limit]}\n[line {offset:,} of {name} is cut: it is longer "
                        f"than {self.limit:,} characters and its start is shown. Read on with "
                        f"offset={offset + 1}]"
                    )
                more = True
                break
            shown.append(text)
            size += len(text)
        else:
            more = bool(handle.read(1))
        if not shown:
            return "(no lines)"
        if not more:
            return "".join(shown)
        last = offset + len(shown) - 1
        return "".join(shown) + (
            f"\n[lines {offset:,}-{last:,} of {name} shown; more follows: read on with "
            f"offset={last + 1}]"
        )

    def list_files(self, data: ListFiles) -> str:
        path = resolve_inside(self.root, data.path)
        if not path.is_dir():
            raise ToolError(f"{relative(self.root, path)}: not a folder")
        files: list[str] = []
        note = ""
        for found in self._walk(path):
            if len(files) == MAX_ENTRIES:
                note = f"\n[cut: the first {MAX_ENTRIES} files]"
                break
            files.append(relative(self.root, found))
        if self.walk_cut:
            note = f"\n[cut: the first {MAX_VISITED:,} entries looked at]"
        listed = cut(("\n".join(files) or "(no files)") + note, self.limit)
        return listed + self._left_out()

    def search(self, data: Search) -> str:
        pattern = compile_pattern(data.pattern)
        start = resolve_inside(self.root, data.path)
        hits: list[str] = []
        skipped: list[str] = []
        read = 0
        for path in [start] if start.is_file() else self._walk(start):
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if size > MAX_SEARCH_FILE:
                skipped.append(relative(self.root, path))
                continue
            if read + size > MAX_SEARCH_BYTES:
                hits.append(f"[search stopped after reading {read:,} bytes; narrow it with path]")
                break
            read += size
            hits += self._search_file(pattern, path, MAX_MATCHES - len(hits))
            if len(hits) >= MAX_MATCHES:
                hits.append(f"[cut at {MAX_MATCHES} matches]")
                break
        if skipped:
            shown = ", ".join(skipped[:10])
            hits.append(f"[not searched, larger than {MAX_SEARCH_FILE:,} bytes: {shown}]")
        if self.walk_cut:
            hits.append(f"[only the first {MAX_VISITED:,} entries were looked at]")
        return cut("\n".join(hits) or "(no matches)", self.limit) + (
            self._left_out() if not start.is_file() else ""
        )

    def _search_file(self, pattern: Any, path: Path, room: int) -> list[str]:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, OSError):
            return []
        name = relative(self.root, path)
        hits = (
            f"{name}:{n}: {line[:300]}" for n, line in enumerate(lines, 1) if pattern.search(line)
        )
        return list(itertools.islice(hits, room))

    def write_file(self, data: WriteFile) -> str:
        path = resolve_inside(self.root, data.path)
        content = data.content
        if len(content.encode()) > MAX_WRITE:
            raise ToolError(f"content is larger than {MAX_WRITE:,} bytes")
        if path.is_dir():
            raise ToolError(f"{relative(self.root, path)}: is a folder")
        new = not path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        resolve_inside(self.root, relative(self.root, path.parent))
        path.write_text(content, encoding="utf-8")
        holding.give(self.root, [path])  # as a command would have made it: the sandbox's
        name = relative(self.root, path)
        said = f"wrote {name} ({len(content):,} characters)"
        ignores = _ignores(self.root, path.parent)
        if new and any(match(os.path.relpath(path, base)) for base, match in ignores):
            self.ignored.append(name)
            said += f"; a .gitignore names {name}: it stays out of the change unless you add it"
        return said

    def edit_file(self, data: EditFile) -> str:
        path = resolve_inside(self.root, data.path)
        name = relative(self.root, path)
        if not path.is_file():
            raise ToolError(f"{name}: no such file")
        if path.stat().st_size > MAX_WRITE:
            raise ToolError(f"{name} is larger than {MAX_WRITE:,} bytes; change it with a command")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ToolError(f"{name} is not UTF-8 text") from exc
        count = text.count(data.old_text) if data.old_text else 0
        if count != 1:
            raise ToolError(f"old_text occurs {count} times in {name}; it must occur exactly once")
        path.write_text(text.replace(data.old_text, data.new_text, 1), encoding="utf-8")
        return f"edited {name}"

    def handlers(self) -> dict[str, Handler]:
        return by_name(
            Tool("read_file", ReadFile, self.read_file),
            Tool("list_files", ListFiles, self.list_files),
            Tool("search", Search, self.search),
            Tool("write_file", WriteFile, self.write_file),
            Tool("edit_file", EditFile, self.edit_file),
        )
