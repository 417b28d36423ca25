"""The route of a validated change, decided in code from the evidence (no forge, store or
I/O; ``validate.decide`` applies it). No model can raise what a gate computed; every gate is
a ``GateResult`` found by its name, so adding or reordering gates changes no route, and a
failing gate stops the merge (docs/gates.md)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any
from unicodedata import normalize

from harness.artifacts import (
    CheckResult,
    GateResult,
    PrCandidate,
    Routing,
    Tested,
    Verdict,
    criterion_ids,
)
from harness.artifacts.browser import Observation
from harness.config.models import Rules
from harness.kinds import is_revert

# what shows nothing of the app: an observation of it is no evidence for a criterion
BLIND_TOOLS = ("browser_press_key",)

# gates whose failure sends a change to a person instead of refusing it: what the tests do
# not prove, what the security gate or a second reviewer stops at, a pass without evidence,
# what setup runs or may reach (docs/sandbox.md); ``implement.gates`` passes a change these
# alone hold, for validation to route here
FOR_A_PERSON = (
    "tests_kept",
    "bug_test_fails_before",
    "security",
    "reviews_agree",
    "validator_evidence",
    "setup_code",
    "network_allow",
    "setup_network",
    "learned_checks",
)


@dataclass(frozen=True)
class Evidence:
    """What the validate gates judge: this run's checks, CI on the PR head, the rules, and
    the signed spec's acceptance criteria the validator judged."""

    rules: Rules
    checked: CheckResult
    ci: str
    kind: str | None = None  # of the change (``revert``: heal's, asked no validator)
    criteria: tuple[str, ...] = ()


def _tests_gate(e: Evidence) -> GateResult | None:
    tested = e.checked.tests
    if tested is None:
        return None
    return GateResult(
        name="tests_on_candidate",
        passed=tested.exit_code == 0,
        evidence=f"`{tested.command}` exited {tested.exit_code} on what would land "
        f"(production {e.checked.production_sha[:12]} with this change), "
        f"tree {tested.tree[:12]}{_stopped(tested)}",
    )


def _stopped(tested: Tested) -> str:
    """What a time limit did to ``tested``: nothing, once (run again alone), or twice; or that
    it ran again, whole, for a check heal found flaky on production."""
    if tested.flaky_again:
        return "; run again once, whole: it holds a check heal found flaky on production"
    if not tested.again:
        return ""
    if tested.limit_hit == "time":
        return f"; stopped at its time limit ({tested.duration_s:.0f} s) twice, once alone"
    return "; run again alone after its time limit stopped it beside the other checks"


def time_limited(checked: CheckResult) -> str | None:
    """Why a person decides when the tests did not finish in their time twice (the second
    time alone): a time limit says something of the machine, never of the change."""
    for tested in (checked.tests, checked.tests_before):
        if tested is not None and tested.again and tested.limit_hit == "time":
            return (
                f"the suite does not finish in {tested.duration_s:.0f} s (time limit, reached "
                f"twice, the second time alone): `{tested.command}`; raise "
                "commands.test_timeout_s or shorten the suite"
            )
    return None


def _tests_kept_gate(e: Evidence) -> GateResult | None:
    """No existing test removed, skipped or emptied (``harness.validate.proof``)."""
    if e.checked.tests is None:
        return None
    lost = e.checked.tests_lost
    if is_revert(e.kind):  # what the merge it undoes brought goes with it, named
        said = f"a revert removes what its culprit merge added: {'; '.join(lost) or 'no test'}"
        return GateResult(name="tests_kept", passed=True, evidence=said)
    return GateResult(
        name="tests_kept",
        passed=not lost,
        evidence="; ".join(lost) if lost else "no existing test removed, skipped or emptied",
    )


def _bug_test_gate(e: Evidence) -> GateResult | None:
    """A bug fix brings a test that fails on the code it replaces and passes with it."""
    files = e.checked.bug_tests
    if files is None:
        return None  # not a bug fix
    before = e.checked.tests_before
    if not files or before is None:
        why = "the bug fix adds or changes no test: nothing shows the bug is gone"
        return GateResult(name="bug_test_fails_before", passed=False, evidence=why)
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if files[3:] else "")
    said = "so they pass without the fix and do not show the bug"
    said = "so they show the bug" if before.exit_code != 0 else said
    return GateResult(
        name="bug_test_fails_before",
        passed=before.exit_code != 0,
        evidence=f"`{before.command}` on production's code with the change's tests "
        f"({shown}) exited {before.exit_code}, {said}{_stopped(before)}",
    )


def _journeys_gate(e: Evidence) -> GateResult:
    journeys = e.checked.journeys
    return GateResult(
        name="journeys",
        passed=e.checked.journeys_passed,
        evidence=f"{sum(j.passed for j in journeys)}/{len(journeys)} hold-out "
        "journeys passed (each on a fresh app; all pass on production)",
    )


def _validator_gate(e: Evidence) -> GateResult:
    """The verdict as given: a pass, its score at least ``min_score``, no criterion failed."""
    minimum, verdict = e.rules.auto_merge.min_score, e.checked.verdict
    if is_revert(e.kind) and verdict is None:
        why = "not asked: a revert restores what production held; the journeys judge it"
        return GateResult(name="validator", passed=True, evidence=why)
    unseen = verdict.results("not_observable") if verdict is not None else []
    failed = verdict.results("fail") if verdict is not None else []
    return GateResult(
        name="validator",
        passed=verdict is not None
        and verdict.verdict == "pass"
        and verdict.score >= minimum
        and not failed,
        evidence=f"verdict {verdict.verdict if verdict else 'none'}, "
        f"score {verdict.score if verdict else 0.0:.2f} (min {minimum})"
        + (f"; {', '.join(failed)} failed" if failed else "")
        + (f"; {', '.join(unseen)} not observable" if unseen else ""),
    )


def unsupported(verdict: Verdict, ids: list[str], observed: list[Observation]) -> list[str]:
    """Why a pass does not rest on evidence, one line naming each criterion of ``ids`` it
    fails for (none: it does). Every criterion is judged; a pass cites at least one
    observation the harness recorded that did not error and showed the app (a page, a
    request's answer): the validator's own, after it acted. The seal sends a verdict back
    to the validator once with these lines; the ``validator_evidence`` gate judges the last."""
    if verdict.verdict != "pass":
        return []
    judged, seen = verdict.judged(), {o.number: o for o in observed}
    problems = []
    for cid in ids:
        entry = judged.get(cid)
        why = [_unshown(n, seen.get(n)) for n in entry.observations] if entry else []
        if entry is None:
            problems.append(f"{cid} not judged")
        elif entry.result == "pass" and all(why):  # none of them shows it
            problems.append(f"{cid}: a pass on {', '.join(map(str, why)) or 'no observation'}")
    return problems


def _unshown(number: int, seen: Observation | None) -> str | None:
    """Why observation ``number`` is no evidence; None: it is (it worked and showed the app)."""
    if seen is None:
        return f"observation {number}, which it never made"
    if seen.error or seen.tool in BLIND_TOOLS:
        why = "errored" if seen.error else "shows nothing of the app"
        return f"observation {number} ({seen.tool}), which {why}"
    return None


def _learned_gate(e: Evidence) -> GateResult | None:
    """Each learned check that fails on the change is one it means to change: the validator
    cites a criterion of this issue that names every word of what the check showed (its
    quote). One the validator reports as a regression sends the change back
    (``validator_regressions``); any other goes to a person. A revert's retire as it lands."""
    failed = [j for j in e.checked.journeys if j.learned and not j.passed]
    if not failed or is_revert(e.kind):
        return None
    cited = {i.check: i.criterion for i in e.checked.verdict.intended} if e.checked.verdict else {}
    texts = dict(zip(criterion_ids(list(e.criteria)), e.criteria, strict=False))
    found = [
        f"learned check {j.learned} no longer holds"
        for j in failed
        if not _names(texts.get(cited.get(str(j.learned), ""), ""), j.expected or "")
    ]
    return _listed("learned_checks", found, "each one failing is intended, as its criterion says")


def _names(criterion: str, quote: str) -> bool:
    """Whether ``criterion`` holds every word of ``quote`` (and it has one), as read."""
    said, quoted = (
        set(re.findall(r"\w+", normalize("NFKC", t).casefold())) for t in (criterion, quote)
    )
    return bool(quoted) and quoted <= said


def _setup_network_gate(e: Evidence) -> GateResult | None:
    """Setup, on production's tree through the egress proxy, asked for no host it was refused:
    code already on production (an agent's, merged earlier) reaching out goes to a person."""
    network = e.checked.network
    if network is None:
        return None
    refused = network.refused()
    said = f"the egress proxy refused setup: {', '.join(refused[:20])}" if refused else ""
    return GateResult(
        name="setup_network",
        passed=not refused,
        evidence=said or f"{len(network.connections)} connections, none refused",
    )


def _evidence_gate(e: Evidence) -> GateResult | None:
    """A pass is a verdict on every criterion, each on the validator's own observation
    (``unsupported``)."""
    run, verdict = e.checked.validator, e.checked.verdict
    if run is None or verdict is None or verdict.verdict != "pass":
        return None
    ids = criterion_ids(list(e.criteria))
    problems = unsupported(verdict, ids, run.observed)
    return _listed(
        "validator_evidence", problems, f"{len(ids)} criteria judged, each pass on what it saw"
    )


def _regressions_gate(e: Evidence) -> GateResult | None:
    """Something the issue did not ask to change that the validator saw broken or gone."""
    verdict = e.checked.verdict
    if verdict is None:
        return None
    seen = [
        f"the validator saw {r.what} (observations {r.observations})" for r in verdict.regressions
    ]
    return _listed("validator_regressions", seen, "no regression seen")


def _addressed_gate(e: Evidence) -> GateResult | None:
    """Text in what the validator observed that addresses it (or any automated reviewer),
    found by the harness's own reading of each observation: tampering, whatever the verdict."""
    run = e.checked.validator
    if run is None:
        return None
    found = [
        f'observation {o.number} ({o.tool}) addresses the validator: "{o.addressed}"'
        for o in run.observed
        if o.addressed
    ]
    return _listed("validator_addressed", found, "no text addresses the validator")


def _listed(name: str, found: list[str], none: str) -> GateResult:
    """A gate that fails on what was ``found``, each named in its evidence."""
    return GateResult(name=name, passed=not found, evidence="; ".join(found) or none)


def _ci_gate(e: Evidence) -> GateResult:
    return GateResult(
        name="ci",
        passed=e.ci == "success" or not e.rules.auto_merge.require_ci,
        evidence=f"CI {e.ci} on {e.checked.head[:12]}",
    )


# The gates validation adds to implement's, each found again by its name (never its place).
VALIDATE_GATES: tuple[Callable[[Evidence], GateResult | None], ...] = (
    _tests_gate,
    _tests_kept_gate,
    _bug_test_gate,
    _journeys_gate,
    _validator_gate,
    _evidence_gate,
    _regressions_gate,
    _addressed_gate,
    _ci_gate,
    _setup_network_gate,
    _learned_gate,
)
# judged after a browser looked, on what the validator did (not the change): never a retry
SEALED = ("journeys", "validator", "validator_evidence", "ci")
ALL_PASSED = "every gate and journey passed"
# why a revert merges, and by which rule: no validator judged it (it has no criteria)
REVERTED = ("a revert, which no validator judges", "auto_merge; a revert restores what it held")
RULES = "factory_rules.md"  # where the rules a route cites are, unless it names another file
ALWAYS = GateResult(name="absent", passed=True)  # a gate this change was not judged by


def decide_route(
    rules: Rules, candidate: PrCandidate, checked: CheckResult, ci: str, rebases: int = 0
) -> Routing:
    """The merge gate and the routing of everything that does not merge: a change that no
    longer merges with production is implemented again on it (``_conflict``; ``rebases``:
    the times in a row it already was); otherwise every gate is computed and the route
    follows from them (``_routed``)."""
    if checked.conflict:
        return _conflict(rules, candidate, checked, rebases)
    spec = candidate.spec
    evidence = Evidence(rules, checked, ci, spec.kind, tuple(spec.acceptance_criteria))
    added = (g for gate in VALIDATE_GATES if (g := gate(evidence)) is not None)
    return _routed(evidence, [*candidate.gates, *added], candidate.fix_attempts)


def _conflict(rules: Rules, candidate: PrCandidate, checked: CheckResult, rebases: int) -> Routing:
    """Production's move, not the change's fault: rebased, spending no fix attempt, at most
    ``max_rebases`` times in a row; then a person."""
    conflict = checked.conflict
    gate = GateResult(name="merges_with_production", passed=False, evidence=str(conflict))
    verdict, score = _given(checked)
    retry = rebases < rules.max_rebases
    why = f"; production moved under it {rebases + 1} times in a row: a person resolves it"
    why = "; implemented again on the new production, no fix attempt spent" if retry else why
    return Routing(
        route="retry" if retry else "needs_human",
        reason=f"the change {conflict}{why}",
        score=score,
        verdict=verdict,
        gates=[*candidate.gates, gate],
        fix_attempts=candidate.fix_attempts,
        rule=f"{RULES} — max_rebases; what lands must merge with production as tested",
    )


def _given(checked: CheckResult) -> tuple[str, float]:
    """The validator's verdict and score as it gave them (``none``, 0 when it gave none)."""
    verdict = checked.verdict
    return (verdict.verdict, verdict.score) if verdict is not None else ("none", 0.0)


def _routing(route: str, reason: str, rule: str, **fields: Any) -> Routing:
    """A route with its reason and the rule that decided it (of factory_rules.md unless named)."""
    rule = rule if " — " in rule else f"{RULES} — {rule}"
    return Routing(route=route, reason=reason, rule=rule, **fields)


def _routed(e: Evidence, gates: list[GateResult], attempts: int) -> Routing:
    """In order: ``_first``; a hold-out conflict; ``FOR_A_PERSON`` gates or an unobservable
    criterion to review; all green merges; the review band to review; else a retry while fix
    attempts remain, then failed (a regression the validator still sees: a person)."""
    rules, checked, ci = e.rules, e.checked, e.ci
    verdict, score = _given(checked)
    failed_criteria = checked.verdict.results("fail") if checked.verdict else []
    named = {g.name: g for g in gates}
    routed = partial(
        _routing,
        score=score,
        verdict=verdict,
        gates=gates,
        fix_attempts=attempts,
        not_observable=(unseen := _unseen(e)),
    )
    if first := _first(checked, named.get("validator_addressed", ALWAYS)):
        return routed("needs_human", *first)
    # gates that failed before any browser looked: implement's, and the tests on the candidate
    before = [g for g in gates if g.name not in SEALED and not g.passed]
    in_band = verdict == "pass" and score >= rules.review_band and not failed_criteria
    supported = named.get("validator_evidence", ALWAYS).passed  # a pass on evidence
    if not named["journeys"].passed and in_band and supported and not before:
        return routed(
            "holdout_conflict",
            "a hidden user journey that passes on production fails on this change, while the "
            "validator passed it: the hold-out and the issue disagree",
            "every hold-out journey must pass; a maintainer decides what no retry can",
        )
    held = [g for g in gates if g.name in FOR_A_PERSON and not g.passed]
    if held and all(g.passed for g in gates if g.name not in FOR_A_PERSON):
        said = "; ".join(f"{g.name}: {g.evidence}" for g in held)
        why = f"a person decides what the gates cannot ({said})"
        return routed("needs_review", why, "a person decides what the gates cannot")
    others_pass = named["journeys"].passed and not before  # CI and validator aside
    if others_pass and named["ci"].passed and unseen and not failed_criteria:
        why = f"the validator could not observe {'; '.join(unseen)}"
        return routed("needs_review", why, "a criterion the validator cannot observe")
    if all(g.passed for g in gates):
        if rules.auto_merge.enabled:
            scored = (f"validator score {score:.2f}", "auto_merge.min_score")
            judged, rule = scored if checked.verdict else REVERTED  # no verdict: a revert's
            return routed("merge", f"every gate passed; {judged}", f"{rule}; {ALL_PASSED}")
        return routed("needs_review", "every gate passed; auto_merge is disabled", "auto_merge")
    if others_pass and in_band:
        if named["validator"].passed:  # only CI said no
            why = f"CI is {ci} on the head: a maintainer reviews it"
            return routed("needs_review", why, "auto_merge.require_ci")
        band = f"[{rules.review_band}, {rules.auto_merge.min_score})"
        why = f"validator score {score:.2f} is in the review band {band}"
        return routed("needs_review", why, "review_band, auto_merge.min_score")
    failed = ", ".join(g.name for g in gates if not g.passed)
    if attempts < rules.max_fix_attempts:
        why = f"{failed} failed; fix attempt {attempts + 1} follows"
        return routed("retry", why, "max_fix_attempts; every gate must pass")
    why = f"{failed} failed after {attempts} fix attempts (max {rules.max_fix_attempts})"
    if seen := [g.evidence for g in gates if g.name == "validator_regressions" and not g.passed]:
        return routed("needs_human", f"{why}; {seen[0]}", "max_fix_attempts; a person decides")
    return routed("failed", why, "max_fix_attempts; every gate must pass")


def _first(checked: CheckResult, addressed: GateResult) -> tuple[str, str] | None:
    """Why a person decides whatever else holds, and the rule: tests stopped twice by their
    time limit; an app that addresses the validator (tampering, whatever the verdict)."""
    if stopped := time_limited(checked):
        return stopped, "factory.yaml — commands.test_timeout_s"
    if not addressed.passed:
        why = f"{addressed.evidence}: a person decides, whatever the verdict"
        return why, "a page that addresses the validator goes to a person"
    return None


def _unseen(e: Evidence) -> list[str]:
    """Each criterion the validator could not observe, by its id and text, with what it
    says it lacks."""
    verdict = e.checked.verdict
    if verdict is None:
        return []
    texts = dict(zip(criterion_ids(list(e.criteria)), e.criteria, strict=False))
    judged = verdict.judged()
    return [
        f"{c} ({texts.get(c, 'the issue itself')}): {judged[c].evidence or 'it says not why'}"
        for c in verdict.results("not_observable")
    ]
