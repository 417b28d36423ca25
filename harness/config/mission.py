"""mission.md read by meaning: its sections found by what their headings say.

A Markdown parser (markdown-it-py) finds the headings, so setext and indented headings
count and fenced code never does. Which words name which section is data
(``workflows/mission/sections.yaml``). Only a purpose and an out-of-scope list are required; a
missing users, capabilities or invariants section is a warning.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from harness.config.errors import Findings
from harness.errors import ConfigError
from harness.paths import shipped_yaml

_SPACES = re.compile(r"[\s\-_/:.,;!?()\[\]\"“”*`#]+")


@dataclass(frozen=True)
class SectionRule:
    """A section of ``workflows/mission/sections.yaml``, its phrases normalised."""

    key: str
    title: str
    phrases: tuple[str, ...]
    required: bool = False
    needs_list: bool = False


@dataclass(frozen=True)
class Section:
    key: str
    heading: str  # as written, without the #s
    line: int  # 1-based line of the heading
    has_text: bool
    has_list: bool


@dataclass
class MissionReading(Findings):
    """The sections found, and what the maintainer should hear about the file."""

    sections: dict[str, Section] = field(default_factory=dict)


@cache
def section_rules() -> tuple[SectionRule, ...]:
    data = shipped_yaml("mission", "sections.yaml")
    return tuple(
        SectionRule(**{**item, "phrases": tuple(_normal(p) for p in item["phrases"])})
        for item in data["sections"]
    )


def _normal(text: str) -> str:
    text = text.casefold().replace("’", "'").replace("‘", "'")
    return " " + _SPACES.sub(" ", text).strip() + " "


def classify(heading: str) -> SectionRule | None:
    """The section a heading names, or None."""
    words = _normal(heading)
    return next((rule for rule in section_rules() if any(p in words for p in rule.phrases)), None)


def _headings(tokens: list[Any]) -> list[tuple[int, str, int, int]]:
    """(level, text, first line, line after) of every heading, in order (0-based lines)."""
    out = []
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.map:
            text = tokens[i + 1].content  # a heading_open is always followed by its inline
            out.append((int(token.tag[1:]), text, token.map[0], token.map[1]))
    return out


def _ends(heads: list[tuple[int, str, int, int]], total: int) -> list[int]:
    """Where each heading's section ends: the line of the next heading at its level or above
    (or the end). One pass from the end with a stack of the headings still open."""
    ends = [total] * len(heads)
    waiting: list[int] = []  # later headings, each of a lower level than the one below it
    for index in range(len(heads) - 1, -1, -1):
        level = heads[index][0]
        while waiting and heads[waiting[-1]][0] > level:
            waiting.pop()
        if waiting:
            ends[index] = heads[waiting[-1]][2]
        waiting.append(index)
    return ends


def _any_between(lines: list[int], start: int, end: int) -> bool:
    """Whether the sorted ``lines`` hold one in ``[start, end)``."""
    return bisect.bisect_left(lines, start) < bisect.bisect_left(lines, end)


def read_mission(text: str) -> MissionReading:
    """The sections of mission.md and what to say about them; linear in the text: each section's end
    and contents found by a stack and a binary search, never by rescanning."""
    from markdown_it import MarkdownIt  # here: a command that checks no mission never loads it

    # the block parse alone: a heading's text is its inline token's content, which the block
    # parser sets; what is inside it (links, emphasis) is never read
    tokens = MarkdownIt("commonmark").disable("inline").parse(text.removeprefix("\ufeff"))
    heads = _headings(tokens)
    ends = _ends(heads, len(text.splitlines()))
    top = [(t.map[0], t.type) for t in tokens if t.map and t.level == 0 and t.nesting != -1]
    content = [line for line, kind in top if kind != "heading_open"]
    lists = [line for line, kind in top if kind in ("bullet_list_open", "ordered_list_open")]
    reading = MissionReading()
    title = heads[0] if heads and heads[0][0] == 1 and sum(h[0] == 1 for h in heads) == 1 else None
    inside_until = -1
    also: dict[str, list[int]] = {}  # section -> lines of further headings that read as it
    for index, (_level, heading, start, after) in enumerate(heads):
        if heads[index] is title or start < inside_until:
            continue
        rule = classify(heading)
        if rule is None:
            continue
        inside_until = ends[index]
        if rule.key in reading.sections:
            also.setdefault(rule.key, []).append(start + 1)
            continue
        has = _any_between(content, after, inside_until), _any_between(lists, after, inside_until)
        reading.sections[rule.key] = Section(rule.key, heading, start + 1, *has)  # text, list
    for key, lines in also.items():
        taken = reading.sections[key]
        shown = ", ".join(str(n) for n in lines[:3]) + (
            f" and {len(lines) - 3:,} more" if len(lines) > 3 else ""
        )
        reading.warnings.append(
            f"mission.md: line{'s' if len(lines) > 1 else ''} {shown} also read as "
            f"{_title(key)}; the first one ('{taken.heading}', line {taken.line}) is used"
        )
    _judge(reading)
    return reading


def _title(key: str) -> str:
    return next(rule.title for rule in section_rules() if rule.key == key)


def _judge(reading: MissionReading) -> None:
    taken = sorted(reading.sections.values(), key=lambda s: s.line)
    reading.notes += [
        f"mission.md: {_title(s.key)} <- '{s.heading}' (line {s.line})" for s in taken
    ]
    for rule in section_rules():
        found = reading.sections.get(rule.key)
        if found is None:
            if rule.required:
                reading.errors.append(ConfigError("mission.md", f"## {rule.title}", _missing(rule)))
            else:
                reading.warnings.append(
                    f"mission.md: no {rule.title.lower()} section (a heading such as "
                    f"'## {rule.title}'); agents judge issues better with one"
                )
            continue
        if rule.needs_list and not found.has_list:
            problem = "needs at least one list item (- something)"
            reading.errors.append(ConfigError("mission.md", f"## {found.heading}", problem))
        elif not found.has_text:
            problem = "is empty; say it in a line or two"
            if rule.required:
                reading.errors.append(ConfigError("mission.md", f"## {found.heading}", problem))
            else:
                reading.warnings.append(f"mission.md: ## {found.heading}: {problem}")


def _missing(rule: SectionRule) -> str:
    examples = ", ".join(f"'## {p.strip().capitalize()}'" for p in rule.phrases[:3])
    return f"required section is missing (a heading such as {examples})"


def check_mission(text: str) -> list[ConfigError]:
    """The problems that stop every run (warnings and notes: ``read_mission``)."""
    return read_mission(text).errors
