"""Building target repositories for end-to-end tests: governance files, config, a commit."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from harness.paths import workflows_dir

FALLBACK_SCRIPT = workflows_dir() / "scripted" / "default.yaml"

MISSION = """# Mission

## Purpose
A small notes web app: people write short notes and see them in a list.

## Users
People who keep a personal list of notes in their browser.

## Capabilities
- Add, list, edit and delete notes.
- Search notes by text.
- Display preferences such as a dark mode.

## Out of scope
- Payments, billing or subscriptions of any kind.
- Accounts, logins and sharing between users.
- Any network call to a third-party service.

## Invariants
- A note that was saved is never lost.
- The home page loads without JavaScript errors.
"""

RULES = """---
auto_merge: {enabled: true, min_score: 0.9, require_ci: true}
review_band: 0.7
max_changed_lines: 500
max_fix_attempts: 2
budgets: {per_issue_usd: 2.0, per_run_usd: 20.0, per_day_usd: 50.0}
triage: {max_issues_per_run: 10, max_issues_per_author_per_day: 3, trusted_authors: [owner]}
---
# Factory rules

- Keep changes small and focused on the issue.
- Never edit tests to make them pass.
"""

CLAUDE = """# Technical context

- Python 3.11, standard library only; the app is `app.py`, served with `python app.py --port N`.
- Tests: `python -m unittest -q`.
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


_INITED: dict[str, Path] = {}  # branch -> a ``.git`` as ``git init -q -b BRANCH`` made it


def _inited(branch: str) -> Path:
    """A ``.git`` as ``git init -q -b BRANCH`` makes it, made once in this process (again if
    gone): nothing in it names the folder it was made in, so each copy is the repository
    ``git init`` makes there."""
    made = _INITED.get(branch)
    if made is None or not (made / "HEAD").is_file():
        folder = Path(tempfile.mkdtemp(prefix="inited-"))
        atexit.register(_remove, folder, os.getpid())
        git(folder, "init", "-q", "-b", branch)
        made = _INITED[branch] = folder / ".git"
    return made


def _remove(folder: Path, pid: int) -> None:
    if os.getpid() == pid:  # not by a forked child that runs its exit handlers
        shutil.rmtree(folder, ignore_errors=True)


def init_repo(path: Path, branch: str = "main") -> None:
    """``git init -q -b BRANCH`` in ``path`` (made if missing): a copy of the one this process
    made, where each ``git init`` is a process of its own (about twice the CPU of the copy);
    a repository there already is initialised again by git itself."""
    path.mkdir(parents=True, exist_ok=True)
    if (path / ".git").exists():
        git(path, "init", "-q", "-b", branch)
    else:
        shutil.copytree(_inited(branch), path / ".git")


def write_files(root: Path, files: dict[str, str]) -> None:
    """Each of ``files`` (path under ``root`` -> text), its folders made as needed."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def make_factory_repo(
    path: Path,
    *,
    provider: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    rules: str = RULES,
) -> Path:
    """A git repository with valid governance files and factory.yaml, committed on ``main``."""
    init_repo(path)
    (path / "mission.md").write_text(MISSION)
    (path / "factory_rules.md").write_text(rules)
    (path / "CLAUDE.md").write_text(CLAUDE)
    (path / ".gitignore").write_text(".factory/\n")
    (path / "app.py").write_text("print('notes')\n")
    data: dict[str, Any] = {
        "forge": "local",
        "production_branch": "main",
        "commands": {"test": "python -m unittest -q"},
        "holdout": str(path.parent / f"{path.name}-holdout"),
        # offline, with the honest fallback answers as its script (no script: no model)
        "provider": provider or {"type": "scripted", "script": str(FALLBACK_SCRIPT)},
    }
    data.update(config or {})
    (path / "factory.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "governance")
    return path
