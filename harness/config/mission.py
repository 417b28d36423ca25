"""mission.md read by meaning: its sections found by what their headings say.

A Markdown parser (markdown-it-py) finds the headings, so setext and indented headings
count and fenced code never does. Which words name which section is data
(``workflows/mission/sections.yaml``). Only a purpose and an out-of-scope list are required; a
missing users, capabilities or invariants section is a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from markdown_it import MarkdownIt

from harness.config.yamlload import load_yaml
from harness.errors import ConfigError
from harness.paths import workflows_dir

_SPACES = re.compile(r"[\s\-_/:.,;!?()\[\]\"“”*`#]+")


@dataclass(frozen=True)
class SectionRule:
    key: str
    title: str
    required: bool
    needs_list: bool
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class Section:
    key: str
    heading: str  # as written, without the #s
    line: int  # 1-based line of the heading
    has_text: bool
    has_list: bool


@dataclass
class MissionReading:
    """The sections found, and what the maintainer should hear about the file."""

    sections: dict[str, Section] = field(default_factory=dict)
    errors: list[ConfigError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@cache
def section_rules() -> tuple[SectionRule, ...]:
    path = workflows_dir() / "mission" / "sections.yaml"
    data: Any = load_yaml(path.read_text(encoding="utf-8"), str(path))
    return tuple(
        SectionRule(
            key=item["key"],
            title=item["title"],
            required=bool(item.get("required", False)),
            needs_list=bool(item.get("needs_list", False)),
            phrases=tuple(_normal(p) for p in item["phrases"]),
        )
        for item in data["sections"]
    )


def _normal(text: str) -> str:
    text = text.casefold().replace("’", "'").replace("‘", "'")
    return " " + _SPACES.sub(" ", text).strip() + " "


def classify(heading: str) -> SectionRule | None:
    """The section a heading names, or None."""
    words = _normal(heading)
    for rule in section_rules():
        if any(phrase in words for phrase in rule.phrases):
            return rule
    return None


def _headings(tokens: list[Any]) -> list[tuple[int, str, int, int]]:
    """(level, text, first line, line after) of every heading, in order (0-based lines)."""
    out = []
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.map:
            text = tokens[i + 1].content if i + 1 < len(tokens) else ""
            out.append((int(token.tag[1:]), text, token.map[0], token.map[1]))
    return out


def read_mission(text: str, file: str = "mission.md") -> MissionReading:
    tokens = MarkdownIt("commonmark").parse(text.removeprefix("\ufeff"))
    heads = _headings(tokens)
    blocks = [(t.map[0], t.type) for t in tokens if t.map and t.level == 0 and t.nesting != -1]
    total = len(text.splitlines())
    reading = MissionReading()
    top = [h for h in heads if h[0] == 1]
    title = heads[0] if heads and heads[0][0] == 1 and len(top) == 1 else None
    inside_until = -1
    for index, (level, heading, start, after) in enumerate(heads):
        if heads[index] is title or start < inside_until:
            continue
        rule = classify(heading)
        if rule is None:
            continue
        end = next((h[2] for h in heads[index + 1 :] if h[0] <= level), total)
        inside_until = end
        body = [kind for line, kind in blocks if after <= line < end and kind != "heading_open"]
        section = Section(
            key=rule.key,
            heading=heading,
            line=start + 1,
            has_text=bool(body),
            has_list=any(kind in ("bullet_list_open", "ordered_list_open") for kind in body),
        )
        taken = reading.sections.get(rule.key)
        if taken is not None:
            reading.warnings.append(
                f"{file}: line {section.line}: '{heading}' also reads as {rule.title}; "
                f"the first one ('{taken.heading}', line {taken.line}) is used"
            )
            continue
        reading.sections[rule.key] = section
    _judge(reading, file)
    return reading


def _judge(reading: MissionReading, file: str) -> None:
    titles = {rule.key: rule.title for rule in section_rules()}
    for taken in sorted(reading.sections.values(), key=lambda s: s.line):
        reading.notes.append(
            f"{file}: {titles[taken.key]} <- '{taken.heading}' (line {taken.line})"
        )
    for rule in section_rules():
        found = reading.sections.get(rule.key)
        if found is None:
            if rule.required:
                reading.errors.append(ConfigError(file, f"## {rule.title}", _missing(rule)))
            else:
                reading.warnings.append(
                    f"{file}: no {rule.title.lower()} section (a heading such as "
                    f"'## {rule.title}'); agents judge issues better with one"
                )
            continue
        if rule.needs_list and not found.has_list:
            reading.errors.append(
                ConfigError(
                    file,
                    f"## {found.heading}",
                    "needs at least one list item (- something)",
                )
            )
        elif not found.has_text:
            problem = "is empty; say it in a line or two"
            if rule.required:
                reading.errors.append(ConfigError(file, f"## {found.heading}", problem))
            else:
                reading.warnings.append(f"{file}: ## {found.heading}: {problem}")


def _missing(rule: SectionRule) -> str:
    examples = ", ".join(f"'## {p.strip().capitalize()}'" for p in rule.phrases[:3])
    return f"required section is missing (a heading such as {examples})"


def check_mission(text: str, file: str = "mission.md") -> list[ConfigError]:
    """The problems that stop every run (warnings and notes: ``read_mission``)."""
    return read_mission(text, file).errors
