"""Learned checks (docs/how-it-works.md, "Learned checks"): each criterion a merged change
passed on a quote becomes a check of the hold-out's, the sealed validator's own recorded
actions and that quote (``candidates``; ``adopt``: after two replays beside the merge's smoke
run, else dropped, with why); those that failed on what lands retire with it (``retire``),
or by a maintainer's hand (``retire_by_hand``). Each is written whole (``keep``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import yaml

from harness.artifacts import CheckResult, HoldoutRun, Observation
from harness.browser.journeys import Learned, learned_check, learned_checks
from harness.engine.context import StepContext
from harness.faults import fault_point
from harness.paths import write_whole
from harness.redact import MASK
from harness.store.base import utc_now

SHOT = "browser_take_screenshot"  # pixels: never part of a check
SHORTEST_SECRET = 4  # a shorter value given is not held for one read from a page


def candidates(ctx: StepContext, check: CheckResult, merge: str) -> list[Learned]:
    """A check for each criterion the validator passed on ``check`` with a quote one of its
    cited observations shows, not kept already (in any state: a smoke run done again after a
    kill tries the rest): its recorded actions up to that one (but screenshots and those that
    failed). One that must not be kept says why (``_unkept``)."""
    known = {c.id for c in learned_checks(ctx.services.settings.holdout_dir)}
    seen = check.validator.observed if check.validator else []
    made = []
    for c in check.verdict.criteria if check.verdict else []:
        key = f"{ctx.number}-{c.criterion}"
        shows = [o.number for o in seen if o.number in c.observations and o.shows(c.quote)]
        if c.result == "pass" and shows and key not in known:
            done = [o for o in seen[: shows[0]] if not o.error and o.tool != SHOT]
            actions = [(o.tool, o.input) for o in done]
            why = _unkept(done, seen)
            made.append(Learned(id=key, merge=merge, actions=actions, quote=c.quote, why=why))
    return made


def _unkept(done: list[Observation], observed: list[Observation]) -> str:
    """Why the actions ``done`` must not be kept ('' when they may): a secret the seal masked
    (what the validator typed or sent under a secret's name); a value it typed or opened that
    the app had shown it only after it acted (what a plain visitor is not shown: a token
    made, a code sent; its own words shown back, too: the rule errs on the safe side), acting
    being what may change the app (``Observation.changes``, the rule the quote's gate reads)."""
    if MASK in json.dumps([o.input for o in done]):
        return "it holds a secret the validator typed or sent"
    acted = min((o.number for o in observed if o.changes), default=math.inf)
    for o in done:
        value = str(o.input.get("text" if o.tool == "browser_type" else "url", ""))  # given
        seen = {p.number < acted for p in observed[: o.number - 1] if value in p.excerpt}
        if len(value) >= SHORTEST_SECRET and seen == {False}:
            return f"observation {o.number} gives what the app showed only after it acted"
    return ""


def keep(holdout: Path, check: Learned, state: str, why: str) -> None:
    """``check`` in ``state`` since now, for ``why``, as ``<holdout>/learned/<id>.yaml``:
    written whole or not at all (``write_whole``)."""
    kept = {**check.model_dump(), "state": state, "why": why, "at": utc_now()}
    write_whole(holdout / "learned" / f"{check.id}.yaml", yaml.safe_dump(kept))


def adopt(ctx: StepContext, found: list[Learned], smoke: HoldoutRun) -> None:
    """Each of ``found`` adopted when both its replays in ``smoke`` showed its quote; else
    dropped, with why, keeping neither its actions nor its quote (a secret, maybe)."""
    for c in found:
        failed = sum(r.name == c.name and not r.passed for r in smoke.journeys)
        why = c.why or f"{failed} of 2 replays did not show its quote" * bool(failed)
        kept = Learned(id=c.id, merge=c.merge) if why else c
        keep(ctx.services.settings.holdout_dir, kept, "dropped" if why else "adopted", why)
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
            keep(holdout, c, "retired", f"{why}: #{ctx.number} landed {merge[:12]}")


def retire_by_hand(holdout: Path, check_id: str, reason: str) -> None:
    """A maintainer's retirement of the adopted check ``check_id``: final."""
    found = learned_check(holdout, check_id, "adopted")
    keep(holdout, found, "retired", f"by a maintainer: {reason}")
