"""Heal and learn on GitHub: the health workflow (nightly, and after each landing of the work
workflow) and the weekly lessons workflow that ``factory init --ci github-actions`` writes,
run job after job by the workflow runner (``tests/actions_runner.py``) against the GitHub
stand-in, as the work job is (``test_github_plan.py``): a read-only job plans, the apply job
writes, exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.forge.base import Label
from tests.factory_repo import git
from tests.forge.conftest import notes_on_github
from tests.forge.github_helpers import github_env
from tests.forge.shared_scenario import isolated_env
from tests.forge.test_github_plan import SETUP, WORKFLOWS, actions, on_actions, runner

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.timeout(600)]


def test_health_and_lessons_run_on_actions_plan_then_apply(tmp_path: Path) -> None:
    holdout = tmp_path / "notes-holdout"
    with notes_on_github(tmp_path) as (repo, hub), isolated_env(tmp_path / "s", **github_env(hub)):
        on_actions(repo, hub, holdout, SETUP)
        health = repo / WORKFLOWS / "factory-health.yml"

        # green production: checked by a read-only job, nothing to apply
        jobs = actions(tmp_path / "green", hub)
        results = jobs.workflow(health)
        assert all(r["ok"] for r in results.values()), "\n".join(jobs.log)
        assert jobs.jobs == ["factory-health.yml:health", "factory-health.yml:apply"]
        assert results["health"]["outputs"] == {"health": "0"}
        writes = len(hub.writes())

        # a person's push breaks a test: the health job finds it red, heals (the bisect
        # blames that commit) and plans one issue for a person; only the apply job files it
        person = runner(tmp_path, hub, "person", holdout)
        test = person / "test_app.py"
        test.write_text(test.read_text().replace('["a", "b"]', '["a", "b", "c"]'))
        git(person, "commit", "-qam", "a stricter test")
        git(person, "push", "-q", "origin", "main")
        looked: dict[str, int] = {}
        jobs = actions(
            tmp_path / "red", hub, after=lambda job: looked.setdefault(job, len(hub.writes()))
        )
        results = jobs.workflow(health)
        assert results["health"]["ok"], "\n".join(jobs.log)
        assert results["health"]["outputs"] == {"health": "1"}
        assert looked["factory-health.yml:health"] == writes  # the read-only job wrote nothing
        assert not results["apply"]["ok"]  # red production is a failed run, after applying
        (filed,) = [i for i in hub.issues.values() if i.title.startswith("Production is red")]
        assert Label.NEEDS_HUMAN in filed.labels and filed.author == hub.bot_login
        again = actions(tmp_path / "again", hub).workflow(health)
        assert again["health"]["outputs"] == {"health": "1"}
        assert [i.title for i in hub.issues.values()].count(filed.title) == 1  # never twice

        # weekly lessons: proposed by a read-only job, applied by another
        jobs = actions(tmp_path / "lessons", hub)
        results = jobs.workflow(repo / WORKFLOWS / "factory-lessons.yml")
        assert all(r["ok"] for r in results.values()), "\n".join(jobs.log)
        assert jobs.jobs == ["factory-lessons.yml:propose", "factory-lessons.yml:apply"]
