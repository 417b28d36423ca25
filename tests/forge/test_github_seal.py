"""The seal holds on GitHub too. The workflows ``factory init --ci github-actions`` writes, run
job after job by the workflow runner (``tests/actions_runner.py``) against the GitHub
stand-in, with a hold-out journey that carries a canary — in its name, in a step, as an
expected text, and as page text its failing step's screenshot shows: nothing any job uploads,
writes to its step summary or prints, and nothing the factory sends GitHub (issues, comments,
pull requests, their bodies), holds it. The canary stays where the hold-out is read (the
runners' own state folders); the jobs that need a plan still get it and run.

The jobs are the session's scenario (``tests/forge/actions_scenario.py``): the nightly
triage, issue 1 implemented, validated with the canary's journey, landed and production's
health checked after the landing (``landed``); then the maintainer's journey fails on
production, and the health jobs heal it, the revert validated with the journeys (``healed``)."""

from __future__ import annotations

import pytest

from tests.actions_runner import Runner
from tests.forge.actions_scenario import CANARY, Healed, Landed

pytestmark = [
    pytest.mark.browser,
    pytest.mark.sandbox,
    pytest.mark.timeout(1200),
    pytest.mark.together("github-actions"),
]


def _leaks(runner: Runner) -> list[str]:
    """Where the canary left a job run by ``runner``: an artifact's file (a screenshot is one
    whatever it shows), a step's output or its step summary."""
    assert runner.artifacts is not None
    files = [p for p in runner.artifacts.rglob("*") if p.is_file()]
    assert files, "no job uploaded anything"
    found = [str(p) for p in files if p.suffix == ".png" or CANARY.encode() in p.read_bytes()]
    found += [f"output: {text[-2000:]}" for text in runner.output if CANARY in text]
    return found + [f"summary: {text}" for text in runner.summaries if CANARY in text]


def test_nothing_of_the_holdout_leaves_a_job_on_github(landed: Landed, healed: Healed) -> None:
    # the nightly triage: issue 1 implemented, validated with the canary's journey, landed,
    # and production's health checked after the landing
    ran = [job.split(":")[1] for job in landed.work.jobs]
    assert ran == [
        *("plan", "apply", "implement", "apply-pr", "validate", "apply-merge"),
        *("health", "apply"),
    ], ran
    (landed_pr,) = [p for p in landed.seen["landed"].pulls.values() if p.merged]

    # the maintainer's journey now fails on production: the health jobs heal it (red,
    # twice), the revert is validated with the journeys and lands
    heal, hub = healed.heal, healed.hub
    assert all(r["ok"] for r in healed.results.values()), "\n".join(heal.log)
    ran = [job.split(":")[1] for job in heal.jobs]
    assert ran == ["health", "apply", "heal", "apply-heal", "validate", "apply-merge"], ran
    reverted = [p for p in hub.pulls.values() if p.merged and p.number != landed_pr.number]
    assert len(reverted) == 1 and healed.main != landed_pr.merge_sha

    # not in an artifact, a step's output or summary, nor in anything sent to GitHub (the
    # healed GitHub holds every request since the set-up: the triage's too)
    assert _leaks(landed.work) == [] and _leaks(heal) == []
    sent = [f"{r.method} {r.path}" for r in hub.requests if CANARY.encode() in r.body]
    assert sent == []
    # … while the runners that read the hold-out kept it, and its screenshots, to themselves
    kept = heal.root.rglob("factory-state/state.db*")
    assert any(CANARY.encode() in p.read_bytes() for p in kept)
    shots = heal.root.rglob("*.png")
    assert any("factory-state" in p.parts and "artifacts" not in p.parts for p in shots)
