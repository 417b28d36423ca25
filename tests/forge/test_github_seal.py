"""The seal holds on GitHub too. The workflows ``factory init --ci github-actions`` writes, run
job after job by the workflow runner (``tests/actions_runner.py``) against the GitHub
stand-in, with a hold-out journey that carries a canary — in its name, in a step, as an
expected text, and as page text its failing step's screenshot shows: nothing any job uploads,
writes to its step summary or prints, and nothing the factory sends GitHub (issues, comments,
pull requests, their bodies), holds it. The canary stays where the hold-out is read (the
runners' own state folders); the jobs that need a plan still get it and run."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.git.repo import GitRepo
from tests.actions_runner import Runner
from tests.factory_repo import git
from tests.forge.conftest import notes_on_github
from tests.forge.github_helpers import github_env
from tests.forge.shared_scenario import isolated_env
from tests.forge.test_github_plan import SETUP, WORKFLOWS, actions, on_actions

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.timeout(1200)]

CANARY = "HOLDOUT-CANARY-5e41d0c9"
# the canary in the journey's name, a step (the note it types), an expected text, and on the
# page: after the note is added, every screenshot of the page shows it
KEEPS = (
    f"name: keeps a note {CANARY}\n"
    "steps:\n"
    "  - goto: /\n"
    f"  - fill: {{label: Note, value: {CANARY}}}\n"
    "  - click: {role: button, name: Add}\n"
    f"  - expect_text: {CANARY}\n"
)
# the maintainer's edit, which the factory's merge (the note count) then fails
NO_COUNT = KEEPS + "  - expect_no_text: 1 notes\n"


def _leaks(runner: Runner) -> list[str]:
    """Where the canary left a job run by ``runner``: an artifact's file (a screenshot is one
    whatever it shows), a step's output or its step summary."""
    assert runner.artifacts is not None
    files = [p for p in runner.artifacts.rglob("*") if p.is_file()]
    assert files, "no job uploaded anything"
    found = [str(p) for p in files if p.suffix == ".png" or CANARY.encode() in p.read_bytes()]
    found += [f"output: {text[-2000:]}" for text in runner.output if CANARY in text]
    return found + [f"summary: {text}" for text in runner.summaries if CANARY in text]


def test_nothing_of_the_holdout_leaves_a_job_on_github(tmp_path: Path) -> None:
    holdout = tmp_path / "notes-holdout"
    with notes_on_github(tmp_path) as (repo, hub), isolated_env(tmp_path / "s", **github_env(hub)):
        (holdout / "journeys" / "keeps_a_note.yaml").write_text(KEEPS)
        on_actions(repo, hub, holdout, SETUP)

        # the nightly triage: issue 1 implemented, validated with the canary's journey, landed,
        # and production's health checked after the landing
        work = actions(tmp_path / "work", hub)
        results = work.workflow(repo / WORKFLOWS / "factory-triage.yml")
        assert all(r["ok"] for r in results.values()), "\n".join(work.log)
        ran = [job.split(":")[1] for job in work.jobs]
        assert ran == [
            *("plan", "apply", "implement", "apply-pr", "validate", "apply-merge"),
            *("health", "apply"),
        ], ran
        (landed,) = [p for p in hub.pulls.values() if p.merged]

        # the maintainer's journey now fails on production: the health jobs heal it (red,
        # twice), the revert is validated with the journeys and lands
        journeys = tmp_path / "holdout-journeys"
        git(tmp_path, "clone", "-q", str(hub.git_root / "acme" / "app-holdout.git"), str(journeys))
        (journeys / "journeys" / "keeps_a_note.yaml").write_text(NO_COUNT)
        git(journeys, "commit", "-qam", "no count on the page")
        git(journeys, "push", "-q", "origin", "main")
        heal = actions(tmp_path / "heal", hub)
        results = heal.workflow(repo / WORKFLOWS / "factory-health.yml")
        assert all(r["ok"] for r in results.values()), "\n".join(heal.log)
        ran = [job.split(":")[1] for job in heal.jobs]
        assert ran == ["health", "apply", "heal", "apply-heal", "validate", "apply-merge"], ran
        reverted = [p for p in hub.pulls.values() if p.merged and p.number != landed.number]
        assert len(reverted) == 1 and GitRepo(hub.bare).rev_parse("main") != landed.merge_sha

        # not in an artifact, a step's output or summary, nor in anything sent to GitHub
        assert _leaks(work) == [] and _leaks(heal) == []
        sent = [f"{r.method} {r.path}" for r in hub.requests if CANARY.encode() in r.body]
        assert sent == []
        # … while the runners that read the hold-out kept it, and its screenshots, to themselves
        kept = (tmp_path / "heal").rglob("factory-state/state.db*")
        assert any(CANARY.encode() in p.read_bytes() for p in kept)
        shots = (tmp_path / "heal").rglob("*.png")
        assert any("factory-state" in p.parts and "artifacts" not in p.parts for p in shots)
