"""A lesson may only make the factory stricter or clearer (docs/learning.md): the learner's
edit is judged from the governance it leaves, parsed before and after, never from its words.
A setting of factory_rules.md's front matter may move only the way
``workflows/lessons/stricter.yaml`` calls stricter (any other setting not at all), and no
prose line of either file — a rule — may go. A person may still write anything by hand."""

from __future__ import annotations

from collections import Counter
from fnmatch import fnmatchcase
from functools import cache
from typing import Any

import yaml

from harness.config.governance import parse_rules, split_front_matter
from harness.config.models import Rules, TrustRule
from harness.paths import workflows_dir

LOOSEST = TrustRule(start="auto", earn_after=0, reset_on=[])  # a kind no trust rule holds


@cache
def _ways() -> dict[str, Any]:
    return dict(yaml.safe_load((workflows_dir() / "lessons" / "stricter.yaml").read_text()))


def _settings(rules: Rules, keys: set[str]) -> dict[str, Any]:
    """Every setting by its dotted name (``budgets.per_day_usd``); ``trust.<key>.<field>``:
    the rule that holds for that key, whoever wrote it."""
    flat: dict[str, Any] = {}
    for name, value in rules.model_dump(mode="json", exclude={"trust"}).items():
        section = value if isinstance(value, dict) else {"": value}
        flat |= {f"{name}.{k}".rstrip("."): v for k, v in section.items()}
    for key in keys:
        rule = rules.trust_for(key.removeprefix("kind:")) or LOOSEST
        flat |= {f"trust.{key}.{k}": v for k, v in rule.model_dump(mode="json").items()}
    return flat


def _stricter(way: Any, before: Any, after: Any) -> bool:
    if isinstance(way, list):  # values from the loosest to the strictest
        return way.index(after) >= way.index(before)
    if isinstance(before, list):  # lower: only loses items; higher: only gains
        before = set(before)
        after = set(after)
    return (way == "lower" and after <= before) or (way == "higher" and after >= before)


def _prose(text: str, file: str) -> Counter[str]:
    """The file's lines below its front matter, but blank ones (a rule each)."""
    end = split_front_matter(text, file)[1] if file == "factory_rules.md" else 0
    return Counter(line.strip() for line in text.splitlines()[end:] if line.strip())


def loosened(file: str, before: str, after: str) -> str | None:
    """What the edit of ``file`` from ``before`` to ``after`` loosens or deletes (None: it only
    adds or tightens); rules that no longer read raise ``ConfigErrors``."""
    if file == "factory_rules.md":
        rules = (parse_rules(before), parse_rules(after))
        keys = {"default", *rules[0].trust, *rules[1].trust}
        old, new = (_settings(r, keys) for r in rules)
        for key, value in old.items():
            way = next((w for name, w in _ways().items() if fnmatchcase(key, name)), None)
            if new[key] != value and not _stricter(way, value, new[key]):
                return f"it loosens {key} ({value!r} → {new[key]!r})"
    gone = _prose(before, file) - _prose(after, file)
    return f"it deletes the rule {next(iter(gone))!r} of {file}" if gone else None
