"""The factory's sandboxes: which paths are the factory's own (never visible to a sandboxed
command) and the one constructor every worktree command goes through."""

from __future__ import annotations

from pathlib import Path

from harness.config.settings import Settings
from harness.sandbox.bwrap import Sandbox, harden
from harness.sandbox.limits import Limits


def hidden_paths(settings: Settings, base: Path) -> list[Path]:
    """What a command in the worktree ``base`` must not see: state, repository, hold-out.
    (The sandbox's view is an allow-list, so these are masked only where they would fall
    inside the read-only system; elsewhere they are simply never mounted.)"""
    s = settings
    return [p for p in (s.state_dir, s.root, s.holdout_dir) if p.exists() and p != base]


def worktree_sandbox(
    settings: Settings, path: Path, limits: Limits | None = None, *, network: bool = False
) -> Sandbox:
    """The sandbox for commands in the worktree ``path``. As root, the state folder, the
    hold-out and the main repository's ``.git`` are first closed to every other uid."""
    harden([settings.state_dir, settings.holdout_dir, settings.root / ".git"])
    return Sandbox(path, limits, hidden=hidden_paths(settings, path), network=network)
