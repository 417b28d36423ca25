"""``python -m benchmarks learned``: what replaying the learned checks of a long history adds
to one validation (docs/how-it-works.md, "Learned checks"), in CPU-seconds of this process
and every process it starts (``benchmarks.cpu.counted``: the apps in their sandboxes, the
browsers), beside one hold-out journey on an app of its own, and one core's speed
(``core_s``). The checks run as validation runs them: grouped onto fresh apps by
``apps_for`` (those that change nothing share one app; each other has its own), one group
after another."""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks import fixtures as fx
from benchmarks.cpu import core_s, counted
from benchmarks.figures import Figure, _tmp
from harness.browser.drivers import Drivers
from harness.browser.journeys import Journey, Learned, apps_for, load_journeys
from harness.config.settings import Settings
from harness.services import open_services
from harness.validate.evidence import fresh_app, journeys_against

GOAL_S = 3.0  # "a few seconds" of CPU for a hundred merges' checks, per validation
CHANGING = 10  # one check in ten types into the app (its own app); the others only look
LOOK = [("browser_navigate", {"url": "/settings"}), ("browser_snapshot", {})]
TYPE = [("browser_type", {"label": "Note", "text": "Buy bread", "submit": True})]


def history(n: int) -> list[Learned]:
    """``n`` learned checks as merges of the demo app leave them: most look at a page, one
    in ``CHANGING`` adds a note and looks for it."""
    return [
        Learned(id=f"{k}-C1", merge="m", actions=TYPE, quote="Buy bread")
        if k % CHANGING == 0
        else Learned(id=f"{k}-C1", merge="m", actions=LOOK, quote="Create API token")
        for k in range(1, n + 1)
    ]


def _replayed(
    settings: Settings, drivers: Drivers, held: list[Journey | Learned], root: Path
) -> float:
    """CPU-seconds of ``held`` replayed as validation groups them, each group on a fresh app."""
    with counted() as (used, _):
        for n, group in enumerate(apps_for(held)):
            with fresh_app(settings, settings.root, f"bench-learned-{n}") as app:
                found = journeys_against(settings, drivers, app, group, root / "shots")
            assert all(r.passed for r in found), [r for r in found if not r.passed][:1]
        return used()


def learned_figures() -> list[Figure]:
    root = _tmp()
    repo, _ = fx.notes_repo(root, 0)
    os.environ["ANTHROPIC_API_KEY"] = fx.KEY  # the settings name a provider; none is called
    services = open_services(repo, root / "state")
    settings, drivers = services.settings, services.caches.part(Drivers, lasting=True)
    journey: list[Journey | Learned] = [load_journeys(fx.holdout_journeys())[0]]
    _replayed(settings, drivers, journey, root)  # warm: the browser's driver
    one = min(_replayed(settings, drivers, journey, root) for _ in range(3))
    rows = []
    for n in (10, 100):
        checks: list[Journey | Learned] = [*history(n)]
        cpu, core = _replayed(settings, drivers, checks, root), core_s()
        apps = len(apps_for(checks))
        rows.append(
            Figure(
                f"learned checks: {n} replayed",
                f"{cpu:.2f} CPU-s",
                f"≤ {GOAL_S:.0f} s" if n == 100 else "—",
                GOAL_S / cpu if n == 100 else 1.0,
                f"{cpu / one:.1f}× one hold-out journey on an app of its own ({one:.2f} CPU-s); "
                f"{apps} fresh apps (one in {CHANGING} checks types: an app each; the others "
                f"share one); one core: 10 M additions in {core:.2f} s",
            )
        )
    return rows
