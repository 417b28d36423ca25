"""The soak's own eyes and its judgement of a landing, each on a fault it must catch, with no
soak run: the world's driver walks a hold-out journey through the demo app's pages and fails
it where a button was renamed (``benchmarks/soak_eyes.py``); a change's replay runs the tests
production had beside its own, and fails a weakened one; "tested as landed" judges a landing by
its own run's check, not by an older check its tests were reused from
(``benchmarks/soak_records.py``); a page promised to a done issue that production stops showing
is excused only while the maintainer's own breakage hides it, and only for the bound
(``benchmarks/soak_oracle.py``)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

import harness.store.base as store_clock
from benchmarks.soak import WORLD
from benchmarks.soak_eyes import Eyes
from benchmarks.soak_oracle import HOUR, Watch, _promises
from benchmarks.soak_records import Records, _proven
from benchmarks.soak_state import Issued
from benchmarks.soak_users import Written
from harness.artifacts import CheckResult, Landing
from harness.artifacts.browser import JourneyResult
from harness.artifacts.implement import Tested as Suite
from harness.engine.records import RunRecords
from harness.paths import workflows_dir
from harness.store.records import StepRecord

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


def _records(runs: dict[str, list[CheckResult]]) -> Records:
    def step(run: str, check: CheckResult) -> StepRecord:
        outputs = check.model_dump(mode="json")
        return StepRecord(
            1,
            run,
            "check",
            1,
            "succeeded",
            {},
            outputs,
            None,
            "",
            None,
            None,
            0.0,
            0.0,
            artifact="CheckResult",
        )

    found = {r: RunRecords([step(r, c) for c in checks]) for r, checks in runs.items()}
    newest_first = [SimpleNamespace(id=r) for r in runs]  # as the store lists them
    return Records(store=None, runs=newest_first, records=found, issues=[], comments={}, now=0.0)  # type: ignore[arg-type]


def _check(tree: str, journeys: int, passed: bool = True) -> CheckResult:
    tested = Suite(
        command="python3 -m unittest", exit_code=0, output="Ran 3 tests in 0.1s", tree=tree
    )
    ran = [JourneyResult(f"j{i}", passed, 2) for i in range(journeys)]
    return CheckResult(
        sha="c" * 40,
        tree=tree,
        journeys=ran,
        journeys_passed=passed,
        tests=tested,
        production_sha="p" * 40,
        head="h" * 40,
    )


def test_a_reused_check_of_an_older_holdout_does_not_judge_todays_landing() -> None:
    """A landing whose tests were reused from an older run (``tested_by``) is proven by its
    own run's check, which ran the two journeys the hold-out holds today; the older run's check
    of the same tree (one journey: the hold-out of its day) does not judge it. The fault seen
    caught: the check taken as the last of the runs newest first, the older one (the false
    alarm a correct revert raised). A landing whose own run kept no check is judged by the run
    that ran its tests; one whose own check failed a journey is not proven."""
    world = SimpleNamespace(journeys={"a.yaml": 0.0, "b.yaml": 86_400.0 * 10})
    landing = Landing(
        issue=2,
        pr=3,
        head="h" * 40,
        branch="main",
        merge_sha="m" * 40,
        tested_tree="t" * 40,
        landed_tree="t" * 40,
        tested_by="r-old",
    )
    today = SimpleNamespace(id="r-new", started_at="1970-01-12T09:00:00Z")
    older = _check("t" * 40, journeys=1)
    proven = _records({"r-new": [_check("t" * 40, journeys=2)], "r-old": [older]})
    assert _proven(world, proven, landing, today) is None  # type: ignore[arg-type]
    reused_only = _records({"r-new": [], "r-old": [older]})
    why = _proven(world, reused_only, landing, today)  # type: ignore[arg-type]
    assert why == "1 of the hold-out's 2 journeys passed on it"
    failed = _records({"r-new": [_check("t" * 40, 2, passed=False)], "r-old": [older]})
    why = _proven(world, failed, landing, today)  # type: ignore[arg-type]
    assert why == "0 of the hold-out's 2 journeys passed on it"


def test_a_promised_page_missing_is_excused_only_while_the_maintainers_breakage_hides_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Alice's page, merged, no longer shows. While the maintainer's own commit that moves the
    pages stands (``break_pages``), it is excused for the bound (30 h) from the first look
    that missed it, then broken (nobody told them: they never mended it; the fault seen
    caught: the excuse without its bound); a page missing with no breakage of theirs is
    broken at once (the fault: every missing page excused)."""
    data = yaml.safe_load(WORLD.read_text())
    alpha = Written("page", "A page about alpha", "", "alice", "alpha", "en")
    world = SimpleNamespace(
        issued={1: Issued(1, alpha, 1)},
        watch=Watch(),
        data=data,
        to_undo=["break_pages"],
        start=time.time(),
    )
    merged = [SimpleNamespace(number=1, state="closed", labels=["factory:merged"])]
    missing = {"page:/pages/alpha:Alpha notes": "/pages/alpha shows 'not found'"}

    def look(hours: float) -> list[str]:
        monkeypatch.setattr(store_clock, "DAYS_AHEAD_S", hours * HOUR)
        _promises(world, merged, missing, 5)  # type: ignore[arg-type]
        return world.watch.broken.get("production shows what was promised", [])

    assert look(0) == [] and look(29) == [] and world.watch.red_days == {5}
    (late,) = look(31)
    assert "#1 is closed as done, but /pages/alpha shows 'not found' since day" in late
    assert "nobody mended it (bound 30 h)" in late
    world.watch, world.to_undo = Watch(), []
    (at_once,) = look(0)
    assert at_once == (
        "day 5: #1 is closed as done, but /pages/alpha shows 'not found' (not 'Alpha notes')"
    )
