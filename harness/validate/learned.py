"""Learned checks (docs/how-it-works.md, "Learned checks"): each criterion a merged change
passed on a quote becomes a check of the hold-out's, the sealed validator's own recorded
actions and that quote (``candidates``; ``adopt``: after two replays beside the merge's smoke
run, else dropped, with why); those that failed on what lands retire with it (``retire``);
and each as ``factory checks``, the dashboard and MCP show it (``CheckRow``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from harness.artifacts import CheckResult, HoldoutRun
from harness.artifacts.browser import Observation
from harness.browser.journeys import READS, Learned, keep, learned_checks
from harness.browser.tools import as_read
from harness.engine.context import Services, StepContext
from harness.errors import UsageError
from harness.faults import fault_point
from harness.store.base import utc_now

SHOT = "browser_take_screenshot"  # pixels: never part of a check
LOOKS = (*READS, SHOT, "browser_fetch")  # what changes nothing in the app
SHORTEST_SECRET = 4  # a shorter value given is not held for one read from a page


def candidates(ctx: StepContext, check: CheckResult, merge: str) -> list[Learned]:
    """A check for each criterion the validator passed on ``check`` with a quote one of its
    cited observations shows, not kept already (in any state: a smoke run done again after a
    kill tries the rest): its recorded actions up to that one (but screenshots and those that
    failed). One that must not be kept says why (``_unkept``)."""
    run = check.validator
    if run is None or run.output is None:
        return []
    known = {c.id for c in learned_checks(ctx.services.settings.holdout_dir)}
    made = []
    for c in run.output.criteria:
        key = f"{ctx.number}-{c.criterion}"
        seen = run.observed
        cited = [o for o in seen if o.number in c.observations and not o.error]
        shows = [o.number for o in cited if as_read(c.quote) in as_read(o.excerpt)]
        if c.result == "pass" and c.quote and shows and key not in known:
            done = [o for o in seen[: shows[0]] if not o.error and o.tool != SHOT]
            actions = [(o.tool, o.input) for o in done]
            why = _unkept(done, seen)
            made.append(Learned(id=key, merge=merge, actions=actions, quote=c.quote, why=why))
    return made


def _unkept(done: list[Observation], observed: list[Observation]) -> str:
    """Why the actions ``done`` must not be kept ('' when they may): a secret the seal masked
    (what the validator typed or sent under a secret's name); a value it typed or opened that
    the app had shown it only after it acted (what a plain visitor is not shown: a token
    made, a code sent; its own words shown back, too: the rule errs on the safe side)."""
    if "[masked]" in json.dumps([o.input for o in done]):
        return "it holds a secret the validator typed or sent"
    acted = min((o.number for o in observed if o.tool not in LOOKS), default=math.inf)
    for o in done:
        value = str(o.input.get("text" if o.tool == "browser_type" else "url", ""))  # given
        seen = {p.number < acted for p in observed[: o.number - 1] if value in p.excerpt}
        if len(value) >= SHORTEST_SECRET and seen == {False}:
            return f"observation {o.number} gives what the app showed only after it acted"
    return ""


def adopt(ctx: StepContext, found: list[Learned], smoke: HoldoutRun) -> None:
    """Each of ``found`` adopted when both its replays in ``smoke`` showed its quote; else
    dropped, with why."""
    for c in found:
        failed = [r for r in smoke.journeys if r.name == c.name and not r.passed]
        why = c.why or f"{len(failed)} of 2 replays did not show its quote" * bool(failed)
        # a dropped one keeps neither actions nor quote (a secret, maybe: never kept)
        kept = {"state": "dropped", "actions": [], "quote": ""} if why else {"state": "adopted"}
        keep(ctx.services.settings.holdout_dir, c, why=why, at=utc_now(), **kept)
        fault_point("validate.learned.kept")  # crash tests: one kept, the others not yet


def retire(ctx: StepContext, check: CheckResult, merge: str) -> None:
    """The adopted learned checks that failed on what landed as ``merge``, retired: the
    change meant it (its validator cited the criterion that changes it), a person approved
    it failing, or a revert undid what they check."""
    holdout = ctx.services.settings.holdout_dir
    cited = {i.check: i.criterion for i in check.verdict.intended} if check.verdict else {}
    failed = {j.learned for j in check.journeys if not j.passed}
    for c in learned_checks(holdout, "adopted"):
        if c.id in failed:
            why = f"intended ({cited[c.id]})" if c.id in cited else "failed"
            keep(
                holdout,
                c,
                state="retired",
                why=f"{why}: #{ctx.number} landed {merge[:12]}",
                at=utc_now(),
            )


def retire_by_hand(holdout: Path, check_id: str, reason: str) -> None:
    """A maintainer's retirement of the adopted check ``check_id``: final."""
    found = [c for c in learned_checks(holdout, "adopted") if c.id == check_id]
    if not found:
        raise UsageError(f"{check_id}: no adopted learned check has that id (factory checks)")
    keep(holdout, found[0], state="retired", why=f"by a maintainer: {reason}", at=utc_now())


class CheckRow(Learned):
    """A learned check as ``factory checks``, the dashboard and MCP show it (its ``actions``
    and ``quote``: ``show`` alone), with its newest replay the store keeps: whether it
    ``held``, when the step ended, in how many ``seconds``, in which run."""

    held: bool | None = None
    replayed: str | None = None
    seconds: float | None = None
    run: str | None = None


def check_rows(services: Services) -> list[CheckRow]:
    """Every learned check, with its newest replay among the newest hold-out runs kept."""
    steps = services.store.typed_steps(("Baseline", "CheckResult", "Smoke", "HoldoutRun"), 200)
    newest = {
        j["name"]: {"held": j["passed"], "replayed": s.finished_at, "seconds": j["duration_s"]}
        | {"run": s.run_id}
        for _, s in reversed(steps)
        for j in s.outputs.get("journeys", [])
    }
    held = learned_checks(services.settings.holdout_dir)
    return [CheckRow(**c.model_dump(), **newest.get(c.name, {})) for c in held]
