"""The route of a validated change, decided in code from the evidence (no forge, store or
I/O; ``validate.decide`` applies it). No model can raise what a gate computed; every gate is
a ``GateResult`` found by its name, so adding or reordering gates changes no route, and a
failing gate stops the merge (docs/gates.md)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from harness.artifacts import (
    CheckResult,
    CriterionResult,
    GateResult,
    Observation,
    PrCandidate,
    Routing,
    Tested,
    Verdict,
    as_quoted,
    criterion_ids,
)
from harness.config.testfiles import failed_said
from harness.kinds import is_revert

if TYPE_CHECKING:  # the seal judges a verdict (``unsupported``) without the configuration
    from harness.config.models import Rules

# what shows no text of the app: an observation of it is no evidence for a criterion, and why
NO_TEXT = MappingProxyType(
    {
        "browser_press_key": "shows nothing of the app",
        "browser_take_screenshot": "shows only pixels the harness cannot read",
    }
)
# what an action's input names of the app: the element or address it acts on
TARGETS = ("name", "label", "text", "selector", "url")
# a path or route a criterion names (not a URL's, nor a fraction's), and a title it quotes
_PATH = re.compile(r"(?<![\w.:/])/[\w\-.~/{}<>:]*\w[}>]?")
_TITLE = re.compile(r"\btitled?\s+(?:is\s+)?[\"\u201c']([^\"\u201d']+)[\"\u201d']")

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
    "validators_agree",
    "setup_code",
    "network_allow",
    "setup_network",
    "setup_installs",
    "learned_checks",
)


@dataclass(frozen=True)
class Evidence:
    """What the validate gates judge: this run's checks, CI on the PR head, the rules, and
    the signed spec's acceptance criteria the validator judged."""

    rules: Rules
    checked: CheckResult
    ci: str
    kind: str | None  # of the change (``revert``: heal's, asked no validator)
    criteria: tuple[str, ...]
    second: Verdict | None  # ``validation.second``'s verdict, when one was asked

    @property
    def texts(self) -> dict[str, str]:
        """Each criterion's text by its id."""
        return dict(zip(criterion_ids(list(self.criteria)), self.criteria, strict=False))


def _tests_gate(e: Evidence) -> GateResult | None:
    tested = e.checked.tests
    if tested is None:
        return None
    return GateResult(
        name="tests_on_candidate",
        passed=tested.exit_code == 0,
        evidence=f"`{tested.command}` exited {tested.exit_code} on what would land "
        f"(production {e.checked.production_sha[:12]} with this change), "
        f"tree {tested.tree[:12]}{_stopped(tested)}{failed_said(tested.output)}",
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
    return _listed("tests_kept", lost, "no existing test removed, skipped or emptied")


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
    journeys = [j for j in e.checked.journeys if not j.learned]  # learned: the learned gate's
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


def unsupported(verdict: Verdict, criteria: list[str], observed: list[Observation]) -> list[str]:
    """Why a pass does not rest on evidence, one line naming each criterion of ``criteria``
    (by its id) it fails for (none: it does). Every criterion is judged; a pass quotes what
    shows it, found by the harness in an observation it cites as recorded (``_unquoted``).
    The seal sends a verdict back to the validator once with these lines; the
    ``validator_evidence`` gate judges the last."""
    if verdict.verdict != "pass":
        return []
    judged, seen = verdict.judged(), {o.number: o for o in observed}
    problems = []
    for cid, text in zip(criterion_ids(criteria), criteria or [""], strict=True):
        entry = judged.get(cid)
        if entry is None:
            problems.append(f"{cid} not judged")
        elif entry.result == "pass" and (why := _unquoted(entry, text, seen)):
            problems.append(f"{cid}: {why}")
    return problems


def _unquoted(entry: CriterionResult, text: str, seen: dict[int, Observation]) -> str | None:
    """Why the pass ``entry`` on the criterion ``text`` is no evidence; None: it is. It cites
    an observation the validator made that worked and showed text of the app, whose record
    holds its quote (both read as a quote is matched: ``as_quoted``), a quote that is more
    than the criterion's own words echoed back (three or more of them, over half of them, and
    nothing else), made at or after the last action among those it cites that
    changed the app (the page before the note was added does not show the note listed);
    and when the criterion names a place (a path, a route, a title: ``_places``), made
    there."""
    why = {n: _unshown(n, seen.get(n)) for n in entry.observations}
    shown = [seen[n] for n, said in why.items() if said is None]
    changed = max((o.number for o in shown if o.changes), default=0)
    if not shown:
        return f"a pass on {', '.join(map(str, why.values())) or 'no observation'}"
    quote = as_quoted(entry.quote)
    if not quote:
        return "a pass without a quote of what shows it"
    holding = [o for o in shown if o.shows(quote)]
    if not holding:
        return f"its quote {entry.quote!r} is not in observations {list(why)} as recorded"
    words, said = _words(quote), _words(text)
    if len(words) > 2 and words <= said and 2 * len(words) > len(said):
        return f"its quote {entry.quote!r} only repeats the criterion's words"
    places = _places(text)
    placed = [o for o in holding if o.number >= changed and (not places or _at(o, places))]
    if not placed:
        where = f" made at {' or '.join(places)}" if places else ""
        after = f" at or after observation {changed}, which changed the app," if changed else ""
        return f"no observation{where}{after} holds its quote"
    return None


def _unshown(number: int, seen: Observation | None) -> str | None:
    """Why observation ``number`` is no evidence; None: it is (it worked and showed the app)."""
    if seen is None:
        return f"observation {number}, which it never made"
    if seen.error or seen.tool in NO_TEXT:
        why = "errored" if seen.error else NO_TEXT[seen.tool]
        return f"observation {number} ({seen.tool}), which {why}"
    return None


def _places(text: str) -> list[str]:
    """The places a criterion names: paths and routes (``/contact``, ``GET /notes/{id}``),
    and page titles it quotes (``titled "Contact"``)."""
    return _PATH.findall(text) + _TITLE.findall(text)


def _at(seen: Observation, places: list[str]) -> bool:
    """Whether ``seen`` was made at one of ``places``: a path's own (a segment written
    ``{id}``, ``<id>`` or ``:id`` is any one segment), or a page of that title."""
    for place in places:
        parts = place.rstrip("/").split("/")
        route = "/".join("[^/]+" if s[:1] in ("{", "<", ":") else re.escape(s) for s in parts)
        if re.fullmatch(route, seen.at.rstrip("/")) or as_quoted(place) == as_quoted(seen.title):
            return True
    return False


def _learned_gate(e: Evidence) -> GateResult | None:
    """Each learned check that fails on the change is one it means to change: the validator
    cites a criterion of this issue that names every word of what the check showed (its
    quote). One the validator reports as a regression sends the change back
    (``validator_regressions``); any other goes to a person. A revert's retire as it lands."""
    failed = [j for j in e.checked.journeys if j.learned and not j.passed]
    if not failed or is_revert(e.kind):
        return None
    verdict = e.checked.verdict
    intended = verdict.intended if verdict else []
    cited = {i.check: _words(e.texts.get(i.criterion, "")) for i in intended}
    found = [
        f"learned check {j.learned} no longer holds"
        for j in failed
        if not set() < _words(j.expected or "") <= cited.get(str(j.learned), set())
    ]
    return _listed("learned_checks", found, "each one failing is intended, as its criterion says")


def _words(text: str) -> set[str]:
    """The words of ``text`` as a quote is matched (``as_quoted``)."""
    return set(re.findall(r"\w+", as_quoted(text)))


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


def setup_code_seen(checked: CheckResult) -> list[GateResult]:
    """What set-up was seen to read (its file-access trace, production's and the change's)
    that the change touched, or a set-up input it touched: set-up code, a person's until its
    kind earned trust (docs/sandbox.md, "Set-up observed"), as implement's ``setup_code``
    (``validate.decide`` gives it to the trust rule beside that one)."""
    found = checked.setup_offline_for
    said = f"the change touches what set-up was seen to read: {', '.join(found[:10])}"
    return [GateResult(name="setup_code", passed=False, evidence=said)] if found else []


def _setup_installs_gate(e: Evidence) -> GateResult | None:
    """The change's set-up, traced, left installed a distribution production's did not, or
    another version of one (each named with the files it came from): a person decides,
    whatever file brought it in and whatever trust its kind earned."""
    found = e.checked.setup_installs
    return _listed("setup_installs", found, "") if found else None


def _evidence_gate(e: Evidence) -> GateResult | None:
    """A pass is a verdict on every criterion, each quoting the validator's own observation
    (``unsupported``)."""
    run, verdict = e.checked.validator, e.checked.verdict
    if run is None or verdict is None or verdict.verdict != "pass":
        return None
    problems = unsupported(verdict, list(e.criteria), run.observed)
    judged = (
        f"{len(criterion_ids(list(e.criteria)))} criteria judged, each pass quoting what it saw"
    )
    return _listed("validator_evidence", problems, judged)


def _regressions_gate(e: Evidence) -> GateResult | None:
    """Something the issue did not ask to change that the validator saw broken or gone, and
    what the harness found itself: an action of the validator's that failed on the change
    and worked, done again, on what it builds on (``CheckResult.works_before``), on an
    element or address no criterion names."""
    run, verdict = e.checked.validator, e.checked.verdict
    if run is None or verdict is None:
        return None
    seen = [
        f"the validator saw {r.what} (observations {r.observations})" for r in verdict.regressions
    ]
    asked, observed = as_quoted(" ".join(e.criteria)), {o.number: o for o in run.observed}
    for number in e.checked.works_before:
        did = observed[number]
        named = [str(v) for k, v in did.input.items() if k in TARGETS and v]
        if not any(as_quoted(target) in asked for target in named):
            seen.append(
                f"observation {number} ({did.tool} {did.input}) failed on the change and works "
                "on production as it builds on: no criterion asks it to change"
            )
    return _listed("validator_regressions", seen, "no regression seen")


def _second_gate(e: Evidence) -> GateResult | None:
    """``validation.second``: another model judged each criterion from the recorded
    observations alone; where its result differs from the validator's, a person decides
    with both answers."""
    verdict, second = e.checked.verdict, e.second
    if verdict is None or second is None:
        return None
    first, again = verdict.judged(), second.judged()
    differ = [
        f"{cid}: the validator {_said(first.get(cid))}; the second look {_said(again.get(cid))}"
        for cid in criterion_ids(list(e.criteria))
        if getattr(first.get(cid), "result", None) != getattr(again.get(cid), "result", None)
    ]
    return _listed("validators_agree", differ, "the second look gives every criterion the same")


def _said(entry: CriterionResult | None) -> str:
    """A criterion's result as given, with its quote (else its words)."""
    return f"{entry.result} ({entry.quote or entry.evidence})" if entry else "not judged"


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
    _second_gate,
    _addressed_gate,
    _ci_gate,
    _setup_network_gate,
    _setup_installs_gate,
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
    rules: Rules,
    candidate: PrCandidate,
    checked: CheckResult,
    ci: str,
    rebases: int = 0,
    second: Verdict | None = None,
) -> Routing:
    """The merge gate and the routing of everything that does not merge: a change that no
    longer merges with production is implemented again on it (``_conflict``; ``rebases``:
    the times in a row it already was); otherwise every gate is computed and the route
    follows from them (``_routed``). ``second``: the second look's verdict, if any."""
    if checked.conflict:
        return _conflict(rules, candidate, checked, rebases)
    spec = candidate.spec
    evidence = Evidence(rules, checked, ci, spec.kind, tuple(spec.acceptance_criteria), second)
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
    judged = verdict.judged()
    return [
        f"{c} ({e.texts.get(c, 'the issue itself')}): {judged[c].evidence or 'it says not why'}"
        for c in verdict.results("not_observable")
    ]
