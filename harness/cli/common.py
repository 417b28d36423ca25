"""Helpers shared by the command modules: locating the repository, printing JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from harness.errors import UsageError


def repo_root(ctx: click.Context) -> Path:
    """The target repository: ``--repo`` or the git top level around the cwd."""
    explicit = (ctx.find_root().obj or {}).get("repo")
    start = Path(explicit).resolve() if explicit else Path.cwd().resolve()
    if explicit and not start.is_dir():
        raise UsageError(f"--repo: {explicit}: no such directory")
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    raise UsageError(f"{start}: not inside a git repository (run 'git init' first)")


def state_dir(root: Path) -> Path:
    """``FACTORY_STATE_DIR`` or ``<repo>/.factory``."""
    env = os.environ.get("FACTORY_STATE_DIR")
    return Path(env).resolve() if env else root / ".factory"


def provider_override(ctx: click.Context) -> str | None:
    value = (ctx.find_root().obj or {}).get("provider")
    return str(value) if value else None


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
