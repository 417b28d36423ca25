"""Heal and learn on GitHub: the health workflow (nightly, and after each landing of the work
workflow) and the weekly lessons workflow that ``factory init --ci github-actions`` writes,
run job after job by the workflow runner (``tests/actions_runner.py``) against the GitHub
stand-in, as the work job is (``test_github_plan.py``): a read-only job plans, the apply job
writes, exactly once.

The maintainer's set-up (``factory init --ci github-actions``, pushed; the hold-out in a
repository of its own) is made once for the module (``on_github``); each test runs its jobs
on a GitHub of its own, forked from it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.forge.base import Label
from harness.git.repo import GitRepo
from tests.factory_repo import git
from tests.forge.conftest import notes_on_github
from tests.forge.github_helpers import forked, github_env
from tests.forge.shared_scenario import isolated_env
from tests.forge.test_github_plan import SETUP, WORKFLOWS, actions, frozen, on_actions, runner

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def on_github(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    """(the maintainer's checkout, the hold-out's folder, what GitHub held) once the
    maintainer ran ``factory init --ci github-actions`` and pushed: each test forks it."""
    root = tmp_path_factory.mktemp("on-github")
    holdout = root / "notes-holdout"
    with notes_on_github(root) as (repo, hub), isolated_env(root / "s", **github_env(hub)):
        on_actions(repo, hub, holdout, SETUP)
        return repo, holdout, frozen(hub, root / "pushed")


@pytest.fixture
def github(on_github: tuple[Path, Path, Any], tmp_path: Path) -> Iterator[Any]:
    """This test's own GitHub, forked from the pushed set-up, its environment set."""
    with forked(on_github[2], tmp_path) as hub, isolated_env(tmp_path / "s", **github_env(hub)):
        yield hub


def test_health_and_lessons_run_on_actions_plan_then_apply(
    tmp_path: Path, on_github: tuple[Path, Path, Any], github: Any
) -> None:
    repo, holdout, _ = on_github
    hub = github
    health = repo / WORKFLOWS / "factory-health.yml"

    # green production: checked by a read-only job, nothing to apply
    jobs = actions(tmp_path / "green", hub)
    results = jobs.workflow(health)
    assert all(r["ok"] for r in results.values()), "\n".join(jobs.log)
    assert jobs.jobs == ["factory-health.yml:health", "factory-health.yml:apply"]
    assert results["health"]["outputs"] == {"health": "0", "reverting": ""}
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
    assert results["health"]["ok"] and results["heal"]["ok"], "\n".join(jobs.log)
    assert results["heal"]["outputs"] == {"health": "1", "reverting": ""}
    assert looked["factory-health.yml:health"] == writes  # the read-only job wrote nothing
    assert results["apply"]["ok"] and not results["apply-heal"]["ok"]  # red: a failed run
    assert "factory-health.yml:validate" not in jobs.jobs  # nothing to revert
    (filed,) = [i for i in hub.issues.values() if i.title.startswith("Production is red")]
    assert Label.NEEDS_HUMAN in filed.labels and filed.author == hub.bot_login
    # the apply job filed it; the heal job then checked production again on a runner of
    # its own (no state: only GitHub's record), still red, and its apply job wrote nothing
    assert looked["factory-health.yml:apply"] > writes
    assert looked["factory-health.yml:apply-heal"] == looked["factory-health.yml:apply"]
    assert [i.title for i in hub.issues.values()].count(filed.title) == 1  # never twice

    # weekly lessons: proposed by a read-only job, applied by another
    jobs = actions(tmp_path / "lessons", hub)
    results = jobs.workflow(repo / WORKFLOWS / "factory-lessons.yml")
    assert all(r["ok"] for r in results.values()), "\n".join(jobs.log)
    assert jobs.jobs == ["factory-lessons.yml:propose", "factory-lessons.yml:apply"]


def test_a_factory_merge_that_breaks_production_is_reverted_by_the_health_jobs(
    tmp_path: Path, on_github: tuple[Path, Path, Any], github: Any
) -> None:
    """A change the factory merged through GitHub's API breaks a journey the maintainer then
    writes: the health job (read-only, no state of its own) finds production red, bisects to
    that merge, knows it for the factory's by GitHub's record of the pull request (opened and
    merged by the factory's login) and plans the regression issue, the revert's pull request
    and its merge after the revert's own checks; the apply job lands it."""
    from harness.services import open_services

    repo, holdout, _ = on_github
    hub = github
    clean_tree = GitRepo(hub.bare).tree_of("main")
    factory = runner(tmp_path, hub, "factory", holdout)
    git(factory, "switch", "-qc", "factory/issue-1-0a1b2c3d")
    app = factory / "app.py"
    app.write_text(app.read_text().replace("<h1>Notes</h1>", "<h1>Notes</h1><p>Beta</p>"))
    git(factory, "commit", "-qam", "A beta banner")
    git(factory, "push", "-q", "origin", "factory/issue-1-0a1b2c3d")
    head = git(factory, "rev-parse", "HEAD").strip()
    forge = open_services(factory, tmp_path / "factory-state").forge
    pr = forge.open_pr(1, "factory/issue-1-0a1b2c3d", "main", "Show a banner", "")
    merge = forge.merge_pr(pr.number, head)
    journey = "name: no banner\nsteps:\n  - goto: /\n  - expect_no_text: 'Beta'\n"
    journeys = tmp_path / "holdout-journeys"
    git(tmp_path, "clone", "-q", str(hub.git_root / "acme" / "app-holdout.git"), str(journeys))
    (journeys / "journeys" / "no_banner.yaml").write_text(journey)
    git(journeys, "add", "-A")
    git(journeys, "commit", "-qm", "a journey: no banner")
    git(journeys, "push", "-q", "origin", "main")

    jobs = actions(tmp_path / "heal", hub)
    results = jobs.workflow(repo / WORKFLOWS / "factory-health.yml")
    assert all(r["ok"] for r in results.values()), "\n".join(jobs.log)
    assert [job.split(":")[1] for job in jobs.jobs] == [
        "health",
        "apply",
        "heal",
        "apply-heal",
        "validate",
        "apply-merge",
    ]
    reverted = GitRepo(hub.bare)
    assert reverted.rev_parse("main") != merge
    assert reverted.tree_of("main") == clean_tree  # exactly what production held before
    (regression,) = [i for i in hub.issues.values() if i.title.startswith("Regression since")]
    assert Label.REGRESSION in regression.labels and f"#{1}" in regression.title
    assert hub.issues[1].state == "open" and Label.REGRESSION in hub.issues[1].labels
    revert = [p for p in hub.pulls.values() if p.merged and p.number != pr.number]
    assert len(revert) == 1 and hub.issues[revert[0].number].title.startswith("Revert")
