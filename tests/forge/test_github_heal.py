"""Heal and learn on GitHub: the health workflow (nightly, and after each landing of the work
workflow) and the weekly lessons workflow that ``factory init --ci github-actions`` writes,
run job after job by the workflow runner (``tests/actions_runner.py``) against the GitHub
stand-in, as the work job is (``test_github_plan.py``): a read-only job plans, the apply job
writes, exactly once.

The maintainer's set-up and the nightly triage that landed issue 1 (``landed``), and the
health jobs reverting that landing once a journey fails on it (``healed``), are the
session's scenario (``tests/forge/actions_scenario.py``); a test that runs jobs of its own
runs them on a GitHub of its own, forked from the landed one."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.forge.base import Label
from harness.store.db import Store
from tests.actions_runner import Runner
from tests.factory_repo import git
from tests.forge.actions_scenario import WORKFLOWS, Healed, Landed, actions, runner
from tests.forge.github_helpers import forked, github_env
from tests.forge.shared_scenario import isolated_env

pytestmark = [
    pytest.mark.browser,
    pytest.mark.sandbox,
    pytest.mark.timeout(900),
    pytest.mark.together("github-actions"),
]


def _health_journeys_pass() -> None:
    """In each ``factory`` command of the red production's jobs: production's health runs its
    hold-out journey as a stand-in passed. A test is what breaks there; a journey that fails
    on production is ``healed``'s, run in Chromium. The tests, the heal's runs of the failing
    ones and its bisect are real."""
    from tests.validate.conftest import journeys_pass

    journeys_pass(pytest.MonkeyPatch(), checks=("health",))


def _checked(jobs: Runner) -> dict[str, list[str]]:
    """What the jobs that checked production checked, by job: the runs of production's health
    (the whole suite and every journey) and of heal (the failing checks again, the bisect)."""
    checked: dict[str, list[str]] = {}
    for state in sorted(jobs.root.glob("job-*/temp/factory-state/state.db")):
        store = Store.open(state.parent)
        job = state.parts[-4].split("-", 2)[2]
        runs = store.list_runs(None)
        if ran := sorted(r.workflow for r in runs if r.workflow in ("health", "heal")):
            checked[job] = ran
        store.close()
    return checked


def test_health_and_lessons_run_on_actions_plan_then_apply(tmp_path: Path, landed: Landed) -> None:
    repo, holdout = landed.repo, landed.holdout
    health = repo / WORKFLOWS / "factory-health.yml"

    # green production, after the landing: checked by a read-only job, nothing to apply
    ran = [job for job in landed.work.jobs if job.startswith("factory-health.yml:")]
    assert ran == ["factory-health.yml:health", "factory-health.yml:apply"]
    assert landed.work.results["factory-health.yml:health"]["outputs"] == {
        "health": "0",
        "reverting": "",
        "outcome": "",
        "culprit": "",
    }

    with (
        forked(landed.seen["landed"], tmp_path) as hub,
        isolated_env(tmp_path / "s", **github_env(hub)),
    ):
        writes = len(hub.writes())
        # a person's push breaks a test: the health job finds it red, heals (the bisect
        # blames that commit) and plans one issue for a person; only the apply job files it,
        # and fails the run: nothing to revert, so no heal job checks production again
        person = runner(tmp_path, hub, "person", holdout)
        test = person / "test_app.py"
        test.write_text(test.read_text().replace('["a", "b"]', '["a", "b", "c"]', 1))
        git(person, "commit", "-qam", "a stricter test")
        git(person, "push", "-q", "origin", "main")
        looked: dict[str, int] = {}
        jobs = actions(
            tmp_path / "red",
            hub,
            after=lambda job: looked.setdefault(job, len(hub.writes())),
            before=_health_journeys_pass,
        )
        results = jobs.workflow(health)
        assert results["health"]["ok"], "\n".join(jobs.log)
        # production checked and healed once, by the health job: no job checks it again
        assert _checked(jobs) == {"health": ["heal", "health"]}
        outputs = results["health"]["outputs"]
        assert (outputs["health"], outputs["outcome"], outputs["reverting"]) == (
            "1",
            "needs_human",
            "",
        )
        assert looked["factory-health.yml:health"] == writes  # the read-only job wrote nothing
        assert not results["apply"]["ok"]  # red, and nothing to revert: a failed run
        assert jobs.jobs == ["factory-health.yml:health", "factory-health.yml:apply"]
        (filed,) = [i for i in hub.issues.values() if i.title.startswith("Production is red")]
        assert Label.NEEDS_HUMAN in filed.labels and filed.author == hub.bot_login
        assert looked["factory-health.yml:apply"] > writes  # the apply job filed it
        assert [i.title for i in hub.issues.values()].count(filed.title) == 1  # never twice

        # weekly lessons: proposed by a read-only job, applied by another
        jobs = actions(tmp_path / "lessons", hub)
        results = jobs.workflow(repo / WORKFLOWS / "factory-lessons.yml")
        assert all(r["ok"] for r in results.values()), "\n".join(jobs.log)
        assert jobs.jobs == ["factory-lessons.yml:propose", "factory-lessons.yml:apply"]


def test_a_factory_merge_that_breaks_production_is_reverted_by_the_health_jobs(
    landed: Landed, healed: Healed
) -> None:
    """A change the factory merged through GitHub's API (issue 1, landed by the work
    workflow) breaks a journey the maintainer then writes: the health job (read-only, no
    state of its own) finds production red, bisects to that merge, knows it for the
    factory's by GitHub's record of the pull request (opened and merged by the factory's
    login) and plans the regression issue, the revert's pull request and its merge after the
    revert's own checks; the apply job lands it."""
    hub = healed.hub
    (merged,) = [p for p in landed.seen["landed"].pulls.values() if p.merged]
    assert all(r["ok"] for r in healed.results.values()), "\n".join(healed.heal.log)
    assert [job.split(":")[1] for job in healed.heal.jobs] == [
        "health",
        "apply",
        "heal",
        "apply-heal",
        "validate",
        "apply-merge",
    ]
    # production checked and healed once, by the health job; the heal job, on a runner of its
    # own, checked nothing again: it planned the revert of the commit the health job blamed
    assert _checked(healed.heal) == {"health": ["heal", "health"]}
    assert healed.main != merged.merge_sha
    # exactly what production held before
    assert healed.tree == landed.seen["tree before the landing"]
    (regression,) = [i for i in hub.issues.values() if i.title.startswith("Regression since")]
    assert Label.REGRESSION in regression.labels and f"#{1}" in regression.title
    assert hub.issues[1].state == "open" and Label.REGRESSION in hub.issues[1].labels
    # the issue reopened names the regression issue by the number GitHub gave it, not the
    # number the read-only job's plan gave it before it was filed
    on_one = [c["body"] for c in hub.comments.values() if c["issue"] == 1]
    (reopened,) = [body for body in on_one if "**Reopened" in body]
    assert f"#{regression.number} brings the change back" in reopened, reopened
    revert = [p for p in hub.pulls.values() if p.merged and p.number != merged.number]
    assert len(revert) == 1 and hub.issues[revert[0].number].title.startswith("Revert")
