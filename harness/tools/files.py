"""``read_file``, ``list_files``, ``search``, ``write_file``, ``edit_file`` inside one worktree."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import ToolError
from harness.tools.paths import relative, resolve_inside

MAX_WRITE = 1_000_000
MAX_ENTRIES = 2000
MAX_MATCHES = 200


def _field(data: dict[str, Any], name: str, required: bool = True) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ToolError(f"{name} must be a string")
    return value


def cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[cut: {len(text):,} characters in all, the first {limit:,} shown]"


class FileTools:
    """File tools confined to ``worktree``; every path is resolved before use."""

    def __init__(self, worktree: Path, max_output_chars: int = 20_000) -> None:
        self.root = worktree.resolve()
        self.limit = max_output_chars

    def _walk(self, start: Path) -> list[Path]:
        out: list[Path] = []
        for path in sorted(start.rglob("*")):
            rel = path.relative_to(self.root).parts
            if rel and rel[0].casefold() == ".git":
                continue
            if path.is_file() and not path.is_symlink():
                out.append(path)
        return out

    def read_file(self, data: dict[str, Any]) -> str:
        path = resolve_inside(self.root, _field(data, "path"))
        if not path.is_file():
            raise ToolError(f"{relative(self.root, path)}: no such file")
        raw = path.read_bytes()
        if b"\x00" in raw[:8192]:
            raise ToolError(f"{relative(self.root, path)}: binary file, not shown")
        return cut(raw.decode("utf-8", errors="replace"), self.limit)

    def list_files(self, data: dict[str, Any]) -> str:
        path = resolve_inside(self.root, _field(data, "path", required=False) or ".")
        if not path.is_dir():
            raise ToolError(f"{relative(self.root, path)}: not a folder")
        files = [relative(self.root, p) for p in self._walk(path)]
        shown = files[:MAX_ENTRIES]
        note = (
            f"\n[cut: {len(files)} files, first {MAX_ENTRIES} listed]"
            if len(files) > MAX_ENTRIES
            else ""
        )
        return cut("\n".join(shown) + note if shown else "(no files)", self.limit)

    def search(self, data: dict[str, Any]) -> str:
        try:
            pattern = re.compile(_field(data, "pattern"))
        except re.error as exc:
            raise ToolError(f"pattern is not a valid regular expression: {exc}") from exc
        start = resolve_inside(self.root, _field(data, "path", required=False) or ".")
        hits: list[str] = []
        for path in [start] if start.is_file() else self._walk(start):
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (UnicodeDecodeError, OSError):
                continue
            for number, line in enumerate(lines, 1):
                if pattern.search(line):
                    hits.append(f"{relative(self.root, path)}:{number}: {line[:300]}")
                    if len(hits) >= MAX_MATCHES:
                        return cut(
                            "\n".join(hits) + f"\n[cut at {MAX_MATCHES} matches]", self.limit
                        )
        return cut("\n".join(hits) or "(no matches)", self.limit)

    def write_file(self, data: dict[str, Any]) -> str:
        path = resolve_inside(self.root, _field(data, "path"))
        content = _field(data, "content")
        if len(content.encode()) > MAX_WRITE:
            raise ToolError(f"content is larger than {MAX_WRITE:,} bytes")
        if path.is_dir():
            raise ToolError(f"{relative(self.root, path)}: is a folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        resolve_inside(self.root, relative(self.root, path.parent))
        path.write_text(content, encoding="utf-8")
        return f"wrote {relative(self.root, path)} ({len(content):,} characters)"

    def edit_file(self, data: dict[str, Any]) -> str:
        path = resolve_inside(self.root, _field(data, "path"))
        old, new = _field(data, "old_text"), _field(data, "new_text")
        if not path.is_file():
            raise ToolError(f"{relative(self.root, path)}: no such file")
        text = path.read_text(encoding="utf-8")
        count = text.count(old) if old else 0
        if count != 1:
            raise ToolError(
                f"old_text occurs {count} times in {relative(self.root, path)}; "
                "it must occur exactly once"
            )
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        return f"edited {relative(self.root, path)}"

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], str]]:
        return {
            "read_file": self.read_file,
            "list_files": self.list_files,
            "search": self.search,
            "write_file": self.write_file,
            "edit_file": self.edit_file,
        }
