"""The validation fixtures (the demo's notes app, the stand-in Messages API), reused."""

from __future__ import annotations

from pathlib import Path

from tests.factory_repo import git
from tests.validate.conftest import app, standin

__all__ = ["app", "standin", "with_trust"]


def with_trust(repo: Path, trust: str) -> None:
    """Put a ``trust:`` entry (flow YAML) into the repository's factory_rules.md front matter
    on production, as a maintainer would commit it."""
    rules = repo / "factory_rules.md"
    text = rules.read_text()
    assert text.startswith("---\n")
    rules.write_text(f"---\ntrust: {trust}\n" + text.removeprefix("---\n"))
    git(repo, "commit", "-qam", "Earned trust")
