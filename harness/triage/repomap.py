"""What triage sees of the repository: a bounded map of the production commit (docs/how-it-works.md,
"How triage decides"), read from git's objects at one commit; route patterns are RE2 over lines
and files of bounded size (rules: ``workflows/map/repository.yaml``). Paths and routes come
from the repository, whose code an agent may have written: the prompt shows the map as data."""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from typing import Any

import re2  # type: ignore[import-untyped]
import yaml
from pydantic import Field

from harness.config.yamlload import FileModel
from harness.digest import sha256
from harness.engine.templates import Templates
from harness.git.repo import GitRepo
from harness.globs import matching
from harness.paths import workflows_dir
from harness.tools.files import RE2_OPTIONS, cut

RULES_FILE = "map/repository.yaml"
MAX_LINE = 1000  # characters of a line a route pattern reads
MAX_ROUTE = 200  # characters of one route shown


class RouteRule(FileModel):
    files: list[str] = Field(min_length=1)
    pattern: str
    line: str | None = None
    prefix: str | None = None  # (name, prefix): the pattern's routes are (name, route)


class MapRules(FileModel):
    """``workflows/map/repository.yaml``: what the map holds and its bounds."""

    max_chars: int = Field(gt=0)
    listing_chars: int = Field(gt=0)
    max_scanned: int = Field(ge=0)
    max_file_bytes: int = Field(gt=0)
    max_routes: int = Field(ge=0)
    max_templates: int = Field(ge=0)
    first: list[str]
    routes: list[RouteRule]
    templates: list[str]
    layout: str  # the map's text, a Jinja template of what was found


@cache
def map_rules() -> tuple[MapRules, str]:
    """The shipped rules and the digest of their text (a map made by other rules differs):
    shipped data, read once per process."""
    text = (workflows_dir() / RULES_FILE).read_text(encoding="utf-8")
    rules = MapRules.model_validate(yaml.load(text, yaml.CSafeLoader))
    return rules, sha256(text)[:16]


def repository_map(repo: GitRepo, commit: str, rules: MapRules) -> str:
    """The map of ``commit``, at most ``rules.max_chars`` characters (past them, cut with a
    note, as a file tool's answer is)."""
    paths = repo.list_tree(commit)
    templates = [p for p in paths if matching(p, rules.templates)]
    shown = templates[: rules.max_templates]
    text = Templates().render_string(
        rules.layout,
        files=len(paths),
        listing=_listing(paths, rules.listing_chars),
        routes=_routes(repo, commit, paths, rules),
        shown=shown,
        more=len(templates) - len(shown),
    )
    return cut(text, rules.max_chars)


def _listing(paths: list[str], budget: int) -> list[str]:
    """Every path when they fit ``budget`` characters; else the files at the top and one
    line per top folder: its file count and what it holds (sub-folders with their counts)."""
    if sum(len(p) + 3 for p in paths) <= budget:
        return paths
    top = [p for p in paths if "/" not in p]
    folders: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        if "/" in path:
            head, _, rest = path.partition("/")
            folders[head].append(rest)
    lines = list(top)
    for folder, inside in sorted(folders.items()):
        kids: dict[str, int] = defaultdict(int)
        for rest in inside:
            name, deeper, _ = rest.partition("/")
            kids[name + ("/" if deeper else "")] += 1
        held = ", ".join(f"{k} ({n})" if k.endswith("/") else k for k, n in sorted(kids.items()))
        line = f"{folder}/ ({len(inside):,} files): {held}"
        lines.append(line if len(line) <= 240 else line[:237] + "…")
    shown: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 3 > budget:
            shown.append(f"… and {len(lines) - len(shown):,} more entries")
            break
        shown.append(line)
        used += len(line) + 3
    return shown


def _routes(repo: GitRepo, commit: str, paths: list[str], rules: MapRules) -> dict[str, list[str]]:
    """The routes each read file declares (file -> routes), at most ``rules.max_routes``."""

    def compiled_or_none(pattern: str | None) -> Any:
        return re2.compile(pattern, options=RE2_OPTIONS) if pattern else None

    compiled = [
        (rule.files, *map(compiled_or_none, (rule.pattern, rule.line, rule.prefix)))
        for rule in rules.routes
    ]
    candidates = [p for p in paths if any(matching(p, files) for files, *_ in compiled)]
    candidates.sort(key=lambda p: (not matching(p, rules.first), p))
    blobs = repo.read_blobs(commit, candidates[: rules.max_scanned], rules.max_file_bytes)
    found: dict[str, list[str]] = {}
    count = 0
    for path in candidates[: rules.max_scanned]:
        if path not in blobs or b"\0" in blobs[path][:8192]:
            continue
        rows = [row[:MAX_LINE] for row in blobs[path].decode("utf-8", "replace").splitlines()]
        mine = [rule[1:] for rule in compiled if matching(path, rule[0])]
        # the prefix each name is given in this file (a blueprint made with a url_prefix)
        given = {
            n: p for _, _, prefix in mine if prefix for row in rows for n, p in prefix.findall(row)
        }
        routes: list[str] = []
        for row in rows:
            for pattern, line, prefix in mine:
                if line is not None and not line.search(row):
                    continue
                for match in pattern.findall(row):
                    name, route = match if prefix else ("", match)
                    route = given.get(name.rpartition(".")[2], "").rstrip("/") + route
                    if route[:MAX_ROUTE] not in routes:
                        routes.append(route[:MAX_ROUTE])
        if routes:
            found[path] = routes[: max(0, rules.max_routes - count)]
            count += len(found[path])
        if count >= rules.max_routes:
            break
    return {path: routes for path, routes in found.items() if routes}
