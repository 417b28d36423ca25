"""Every view counts outcomes from one definition: on one scenario — the demo's merged,
rejected and held issues, one waiting for a person, an author's issues that need
information and the one the daily limit deferred, and an issue heal filed and a person
closed — the Queue, the Now page, ``factory runs`` and the Trends page say the same of each.
Closed is closed; a deferral and a request for information are neither a success nor a
refusal; a waiting issue says why; a heal issue's page shows the heal run that filed it."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.artifacts import Healed
from harness.forge.base import Label
from harness.reports.issues import issue_page, queue_view
from harness.reports.runs import run_lines
from harness.reports.status import trends
from harness.serve.app import now_status
from harness.services import Services, open_services
from tests.cli_helpers import run_cli
from tests.conftest import SCRUBBED_ENV
from tests.store.demo_run import IDENTITY, demo_run
from tests.validate.conftest import Output

pytestmark = pytest.mark.together("demo-cycle")
CAROL = [f"Sort the notes by {how}" for how in ("date", "length", "title", "colour")]


@dataclass(frozen=True)
class Scenario:
    services: Services
    repo: Path
    state: Path
    heal_issue: int
    heal_run: str
    carol: list[int]  # four issues of one author: three judged (needs info), the fourth deferred


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    run = demo_run(tmp_path_factory)
    assert run.code == 0, run.err
    shown = run.json()
    root = tmp_path_factory.mktemp("one-definition") / "demo"
    shutil.copytree(run.pristine, root, symlinks=True)
    repo = root / Path(shown["repo"]).relative_to(run.root)
    state = root / Path(shown["state_dir"]).relative_to(run.root)
    with pytest.MonkeyPatch.context() as mp:
        for name in SCRUBBED_ENV:
            mp.delenv(name, raising=False)
        for name, value in IDENTITY.items():
            mp.setenv(name, value)
        mp.setenv("FACTORY_STATE_DIR", str(state))
        services = open_services(repo, state)
        forge, store = services.forge, services.store
        carol = [forge.create_issue(title, "Please.", "carol").number for title in CAROL]
        with Output() as output:
            assert run_cli(output, "--repo", str(repo), "triage").code == 0
        # production went red, heal left it to a person with an issue of its own, which a
        # person closed once production was mended: recorded as heal's run records it
        filed = forge.create_issue("Production is red", "A person decides.", forge.bot_login)
        forge.add_labels(filed.number, [Label.NEEDS_HUMAN])
        heal = store.create_run("heal", None, {}, services.settings.governance.hashes)
        step = store.start_step(heal.id, "act", {"action": "heal.act"})
        healed = Healed(
            outcome="needs_human",
            sha="0" * 40,
            reason="not the factory's",
            person_issue=filed.number,
        )
        store.finish_step(step, "succeeded", healed.model_dump(), artifact="Healed")
        store.set_run_status(heal.id, "succeeded")
        forge.close_issue(filed.number)
    return Scenario(services, repo, state, filed.number, heal.id, carol)


def test_the_views_agree_on_every_issue(scenario: Scenario) -> None:
    services = scenario.services
    queue = {i.number: g.label for g in queue_view(services) for i in g.items}
    rows = run_lines(services.store, services.store.list_runs(limit=None), services.clock())
    newest: dict[int, str] = {}
    for row in rows:
        if row.issue is not None:
            newest.setdefault(row.issue, row.shown)
    *judged, deferred = scenario.carol
    expected = {
        1: (Label.MERGED, "merged"),
        2: (Label.MERGED, "merged"),
        3: (Label.REJECTED, "rejected"),
        4: (Label.NEEDS_HUMAN, "needs_human"),
        5: (Label.NEEDS_HUMAN, "needs_human"),
        **dict.fromkeys(judged, (Label.NEEDS_INFO, "needs_info")),
        deferred: (Label.DEFERRED, "deferred"),
    }
    assert {n: (queue[n], newest.get(n)) for n in expected} == expected
    assert queue[scenario.heal_issue] == "closed"  # closed is closed, whatever it waited for

    # Now and runs: a run that decided about an issue reads as what it decided, never as a
    # bare "succeeded" (production's health runs alone have no outcome but their status)
    counts = now_status(services).outcomes
    assert counts["deferred"] == 1 and counts["needs_info"] == 3
    assert all(r.outcome for r in rows if r.workflow != "health"), rows
    assert counts.get("succeeded", 0) == sum(r.workflow == "health" for r in rows[:100])

    # Trends: a refusal is what the runs call one, a deferral and a request for information
    # are not
    refusals = trends(services).refusals
    assert refusals == {
        "triage: reject": 1,
        "triage: needs_human": 1,
        "validation: needs_human": 1,
    }


def test_a_waiting_issue_says_why_and_a_heal_issue_shows_its_run(scenario: Scenario) -> None:
    services = scenario.services
    waiting = issue_page(services, 5)
    assert waiting.label and waiting.why and "addresses the validator" in waiting.why
    healed = issue_page(services, scenario.heal_issue)
    assert [t.id for t in healed.trails] == [scenario.heal_run]
    assert healed.state == "closed" and healed.trails[0].outcome == "needs_human"


def test_report_of_a_heal_run_names_no_issue(
    scenario: Scenario, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACTORY_STATE_DIR", str(scenario.state))
    said = run_cli(capsys, "--repo", str(scenario.repo), "report", scenario.heal_run)
    assert said.out.splitlines()[0] == f"run {scenario.heal_run}: heal — needs_human"
