"""Earned trust per kind of change (docs/trust.md, "Earned trust"), counted every time from
what the database derived of each validated change (``harness/store/outcomes.py``): no
counter anyone can set, and no text (a commit message, an issue's title) anyone can write."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.config.models import Rules, TrustRule
from harness.store.db import Store
from harness.store.outcomes import HUMAN_APPROVE
from harness.store.records import Event, KindTally

if TYPE_CHECKING:
    from harness.artifacts import GateResult, IssueSpec, Routing
    from harness.config.settings import Settings
    from harness.engine.context import Services

APPROVE_EVENT = HUMAN_APPROVE
# CI that said no is a gate no approval lifts; pending or absent CI a person may accept
RED_CI = ("failure", "error")


@dataclass(frozen=True)
class TrustState:
    """Where one kind of change stands: ``auto`` when its changes merge by themselves."""

    kind: str
    start: str
    earn_after: int
    earned: int
    auto: bool
    reset_at: str | None
    reset_on: tuple[str, ...] = ()
    from_backtest: int = 0  # of ``earned``: rehearsed cases (``backtest.counts_for_trust``)

    @property
    def mode(self) -> str:
        """How its changes merge, as ``factory status`` words it."""
        return "auto" if self.auto else f"review ({self.earned}/{self.earn_after} earned)"

    def waiting_reason(self) -> str:
        return (
            f"trust for kind:{self.kind} is earned after {self.earn_after} approved changes "
            f"that stayed green ({self.earned} so far)"
        )


def kind_of(spec: IssueSpec | None) -> str:
    """The kind triage gave the change (``bug``, ``feature``, …), or ``unknown``."""
    return spec.kind if spec is not None and spec.kind else "unknown"


def approvals(store: Store, issue: int, head: str) -> list[Event]:
    """The recorded approvals of ``issue`` at exactly the PR head ``head``, oldest first."""
    found = store.events(kind=APPROVE_EVENT, issue=issue)
    return [e for e in found if e.data.get("head") == head]


def state_of(
    kind: str, rule: TrustRule, tally: KindTally | None, credit: tuple[int, str] | None = None
) -> TrustState:
    """Where ``kind`` stands: the approved changes that stayed green since the newest of
    what ``rule.reset_on`` names (a regression, a revert) earn its trust; with ``credit``
    (cases of a backtest, and when it finished) those too, unless a reset came after it."""
    newest = tally.newest if tally else {}
    reset_at = max((newest[w] for w in rule.reset_on if w in newest), default=None)
    lent = credit[0] if credit and (reset_at is None or credit[1] > reset_at) else 0
    earned = (tally.approved_after.get(reset_at, 0) if tally else 0) + lent
    auto = rule.start == "auto" or earned >= rule.earn_after
    reset_on = tuple(rule.reset_on)
    return TrustState(kind, rule.start, rule.earn_after, earned, auto, reset_at, reset_on, lent)


def rehearsed_credit(store: Store) -> dict[str, tuple[int, str]]:
    """What a backtest lends earned trust, when a maintainer allows it
    (``backtest.counts_for_trust`` in factory.yaml): per kind of change, the cases of the
    newest finished backtest on production's governance (not a rehearsed edit) that would
    have merged and were resolved, with when it finished. A kind with a false merge in that
    backtest gets nothing from it."""
    record = store.latest_backtest(finished=True, edit=False)
    if record is None or record.finished_at is None:
        return {}
    resolved: Counter[str] = Counter()
    spoiled: set[str] = set()
    for case in store.backtest_cases(record.id):
        row = case.result
        kind = row.get("kind")
        if not kind or row.get("route") != "merge":
            continue
        if row.get("resolved"):
            resolved[str(kind)] += 1
        else:
            spoiled.add(str(kind))
    return {k: (n, record.finished_at) for k, n in resolved.items() if k not in spoiled}


def trust_state_for(store: Store, rules: Rules, kind: str, rehearsals: bool) -> TrustState | None:
    """The state of one kind, or None when no trust rule covers it (it merges by itself);
    ``rehearsals``: the newest backtest counts too (``rehearsed_credit``)."""
    rule = rules.trust_for(kind)
    if rule is None:
        return None
    credit = rehearsed_credit(store).get(kind) if rehearsals else None
    return state_of(kind, rule, store.trust_tallies().get(kind), credit)


def trust_states_for(store: Store, rules: Rules, rehearsals: bool) -> list[TrustState]:
    """Every configured kind, and each kind seen so far that the ``default`` rule covers."""
    if not rules.trust:
        return []
    tallies = store.trust_tallies()
    credits = rehearsed_credit(store) if rehearsals else {}
    kinds = [k.removeprefix("kind:") for k in rules.trust if k != "default"]
    if "default" in rules.trust:
        seen = sorted((set(tallies) | set(credits)) - set(kinds))
        kinds += seen or ["default"]
    return [
        state_of(kind, rule, tallies.get(kind), credits.get(kind))
        for kind in kinds
        if (rule := rules.trust_for(kind)) is not None
    ]


def configured_states(store: Store, settings: Settings) -> list[TrustState]:
    """``trust_states_for`` by the rules and backtest credit ``settings`` say."""
    rehearsals = settings.config.backtest.counts_for_trust
    return trust_states_for(store, settings.governance.rules, rehearsals)


def trusted_setup(services: Services, kind: str, gates: list[GateResult]) -> list[GateResult]:
    """``gates`` with a failed ``setup_code`` gate lifted once ``kind`` has earned trust:
    ``earn_after`` of its changes approved by a person stayed green (by its rule, or the
    default one when none covers it). A declared ``start: auto`` alone earns nothing: a
    change to what setup runs never merges unattended before people approved such work."""
    settings = services.settings
    if all(g.passed or g.name != "setup_code" for g in gates):
        return gates
    tally = services.store.trust_tallies().get(kind)
    state = state_of(kind, settings.governance.rules.trust_for(kind) or TrustRule(), tally)
    if state.earned < state.earn_after:
        return gates
    said = f"; kind:{kind} has earned trust ({state.earned} approved changes stayed green)"
    return [
        g.evolve(passed=True, evidence=g.evidence + said) if g.name == "setup_code" else g
        for g in gates
    ]


def review_gate(
    services: Services, issue: int | None, head: str, kind: str, routing: Routing
) -> Routing:
    """The person in the loop, after the deterministic gates routed a change: a change that
    would merge waits for review while its kind has not earned trust; a change waiting for
    review merges when a person approved exactly this head. Only a ``needs_review`` route is
    ever lifted: a failed gate (tests on the candidate, journeys, size, protected paths,
    budget) routes elsewhere and stays as it is; CI that failed is never lifted."""
    store = services.store
    if routing.route == "merge":
        settings = services.settings
        rehearsals = settings.config.backtest.counts_for_trust
        state = trust_state_for(store, settings.governance.rules, kind, rehearsals)
        if state is not None and not state.auto:
            rule = f"factory_rules.md — trust (kind:{state.kind}): earned trust"
            routing = routing.evolve(route="needs_review", reason=state.waiting_reason(), rule=rule)
    if routing.route == "needs_review" and issue is not None:
        approval = next(reversed(approvals(store, issue, head)), None)  # the newest
        if approval is not None and services.forge.ci_status(head) not in RED_CI:
            actor = str(approval.data.get("actor", "a maintainer"))
            reason = (
                f"approved by {actor} for head {head[:12]}; every gate that decides held. "
                f"It waited because {routing.reason}"
            )
            rule = "a person's approval of this head (factory approve); every gate held"
            routing = routing.evolve(route="merge", reason=reason, rule=rule)
    return routing
