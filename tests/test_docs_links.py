"""Every relative link of README.md and docs/*.md resolves: the file exists and, for a
``#anchor``, a heading of that file makes that anchor as GitHub writes it. The README stays a
front door: at most 300 lines, its quick start the two commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def _prose(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation out, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text stays
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in _prose(page.read_text(encoding="utf-8")):
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[str]:
    prose = "\n".join(_prose(page.read_text(encoding="utf-8")))
    prose = re.sub(r"`[^`\n]*`", "", prose)  # code spans are not links
    return [m.group(1) for m in LINK.finditer(prose)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: …
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading makes #{anchor}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_the_readme_is_a_front_door() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    assert "make demo" in text and "make test" in text
    # every page is reached from the README, through the pages it links
    reached, todo = set(), [ROOT / "README.md"]
    while todo:
        page = todo.pop()
        for target in links(page):
            path = target.partition("#")[0]
            found = (page.parent / path).resolve()
            if path.endswith(".md") and found.is_file() and found not in reached:
                reached.add(found)
                todo.append(found)
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert page.resolve() in reached, f"no link leads from README.md to docs/{page.name}"


def test_the_anchor_rule_is_githubs() -> None:
    assert slug("Rehearsing on your history: `factory backtest`") == (
        "rehearsing-on-your-history-factory-backtest"
    )
    assert slug("`--json` fields") == "--json-fields"
    assert slug("3. Secrets (Settings → Secrets and variables → Actions → Secrets)") == (
        "3-secrets-settings--secrets-and-variables--actions--secrets"
    )
