"""A lesson may only make the factory stricter or clearer (docs/learning.md): the learner's
edit is judged from the governance it leaves, parsed before and after, never from its words.
A setting of factory_rules.md's front matter may move only the way
``workflows/lessons/stricter.yaml`` calls stricter (any other setting not at all), and no
prose line of either file — a rule — may go. A person may still write anything by hand."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import yaml

from harness.config.governance import parse_rules, split_front_matter
from harness.config.models import Rules, TrustRule
from harness.paths import workflows_dir


def _flat(value: Any, name: str) -> dict[str, object]:
    """Every setting of ``value`` by its dotted name (``budgets.per_day_usd``)."""
    if not isinstance(value, dict):
        return {name.lstrip("."): value}
    return {k: v for key, part in value.items() for k, v in _flat(part, f"{name}.{key}").items()}


def _settings(rules: Rules, keys: set[str]) -> dict[str, object]:
    """The settings; ``trust.<key>``: the rule that holds for that key, whoever wrote it."""
    loosest = TrustRule(start="auto", earn_after=0, reset_on=[])  # no rule: merges by itself
    held = {k: (rules.trust_for(k.removeprefix("kind:")) or loosest).model_dump() for k in keys}
    return _flat(rules.model_dump() | {"trust": held}, "")


def _stricter(way: Any, before: Any, after: Any) -> bool:
    if isinstance(way, list):  # values from the loosest to the strictest
        return way.index(after) >= way.index(before)
    if isinstance(before, list):  # lower: only loses items; higher: only gains
        return _stricter(way, set(before), set(after))
    return bool((way == "lower" and after <= before) or (way == "higher" and after >= before))


def _prose(text: str, file: str) -> set[str]:
    """The file's lines below its front matter, but blank ones (a rule each)."""
    end = split_front_matter(text, file)[1] if file == "factory_rules.md" else 0
    return {line.strip() for line in text.splitlines()[end:] if line.strip()}


def loosened(file: str, before: str, after: str) -> str | None:
    """What the edit of ``file`` from ``before`` to ``after`` loosens or deletes (None: it only
    adds or tightens); rules that no longer read raise ``ConfigErrors``."""
    if file == "factory_rules.md":
        rules = (parse_rules(before), parse_rules(after))
        keys = {"default", *rules[0].trust, *rules[1].trust}
        old, new = (_settings(r, keys) for r in rules)
        ways = yaml.safe_load((workflows_dir() / "lessons" / "stricter.yaml").read_text())
        for key, value in old.items():
            way = next((w for name, w in ways.items() if fnmatchcase(key, name)), None)
            if new[key] != value and not _stricter(way, value, new[key]):
                return f"it loosens {key} ({value!r} → {new[key]!r})"
    gone = _prose(before, file) - _prose(after, file)
    return f"it deletes the rule {min(gone)!r} of {file}" if gone else None
