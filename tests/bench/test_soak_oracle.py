"""The soak's own eyes (``benchmarks/soak_eyes.py``), each on a fault it must catch, with no
soak run: the world's driver walks a hold-out journey through the demo app's pages and fails
it where a button was renamed; a change's replay runs the tests production had beside its own,
and fails a weakened one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchmarks.soak_eyes import Eyes
from harness.paths import workflows_dir

DEMO = workflows_dir() / "demo"
ADD = (DEMO / "holdout" / "journeys" / "add_note.yaml").read_text()


def _commit(repo: Path, message: str) -> str:
    env = {"GIT_AUTHOR_NAME": "w", "GIT_AUTHOR_EMAIL": "w@x", "GIT_COMMITTER_NAME": "w"}
    env |= {"GIT_COMMITTER_EMAIL": "w@x", "HOME": str(repo), "PATH": "/usr/bin:/bin"}
    for args in (["add", "-A"], ["commit", "-qm", message]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def app(tmp_path: Path) -> Path:
    repo = tmp_path / "app"
    shutil.copytree(DEMO / "app", repo)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    return repo


def test_the_worlds_eyes_walk_a_journey_and_see_a_renamed_button(app: Path) -> None:
    """The demo's journey passes on its app and fails once the button it presses is renamed
    (the fault: the maintainer's ``break_journey``); a page shows its text or says why not."""
    good = _commit(app, "the app")
    text = (app / "app.py").read_text()
    (app / "app.py").write_text(text.replace(">Add</button>", ">Keep</button>"))
    bad = _commit(app, "Tidy app.py")
    eyes = Eyes(app)
    try:
        asked: dict[str, tuple[Any, ...]] = {
            "add": ("journey", "add_note.yaml", ADD),
            "home": ("page", "/", "Notes"),
            "settings": ("page", "/settings", "New token"),
        }
        seen = eyes.answers(good, asked)
        assert seen["add"] is None and seen["home"] is None
        assert seen["settings"] is not None and "Create API token" in seen["settings"]
        assert eyes.answers(bad, asked)["add"] == "step 3: no button named 'Add'"
        assert eyes.started["apps"] == 2
        eyes.answers(bad, asked)  # what a tree showed is kept: no app started again
        assert eyes.started["apps"] == 2
    finally:
        eyes.close()


def test_a_change_is_replayed_with_the_tests_production_had(app: Path) -> None:
    """A change that weakens an existing test passes its own tests, and fails the replay of the
    tests production had on its code (the fault the kept-tests gate exists for)."""
    before = _commit(app, "the app")
    code, tests = (app / "app.py").read_text(), (app / "test_app.py").read_text()
    (app / "app.py").write_text(code.replace('raise ValueError("a note cannot be empty")', "pass"))
    (app / "test_app.py").write_text(
        tests.replace(
            '        with self.assertRaises(ValueError):\n            add_note([], "   ")',
            '        add_note([], "   ")',
        )
    )
    weakened = _commit(app, "notes of spaces")
    eyes = Eyes(app)
    try:
        assert eyes.answers(weakened, {"own": ("tests", None)})["own"] is None
        kept = eyes.answers(weakened, {"kept": ("tests", before)})["kept"]
        assert kept is not None and "test_empty" in kept
        assert eyes.answers(before, {"kept": ("tests", before)})["kept"] is None
    finally:
        eyes.close()
