"""Lessons from evidence, read again each time from what the store keeps anyway
(docs/learning.md, "Lessons"): every refusal by its type and every person's decision with a
reason is a citation; the citations resting on the same refusals make a lesson, one a cause.
A citation stale against production now is shown, never counted. The hold-out stays sealed:
the journeys' gate and the validator's verdict on one issue's criteria are never cited."""

from __future__ import annotations

import re
from collections.abc import Iterator

from pydantic import ValidationError

from harness.artifacts import (
    ANY_RUN,
    ARTIFACTS,
    Citation,
    GateReport,
    GovernanceEdit,
    Healed,
    Lesson,
    Proposal,
    Review,
    Validation,
)
from harness.engine.context import Services

SEALED = ("journeys", "validator")
HANDLED = ("max_rebases", "commands.test_timeout_s")  # the rules of routes taken in code
SERIOUS = ("critical", "high", "medium")
MAX_FILES = 10  # of a regression's culprit, each a citation
# a rule as a person or an agent cites it: "factory_rules.md: Every error path has a test"
RULE = re.compile(r"(mission\.md|factory_rules\.md|CLAUDE\.md):\s*([^\n.;]{3,120})")


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9_]+", text.lower())[:8])


def _from_records(services: Services) -> Iterator[Citation]:
    kinds = (Review, GateReport, Validation, Healed)
    for issue, step in services.store.typed_steps(tuple(k.__name__ for k in kinds)):
        try:
            record = ARTIFACTS[str(step.artifact)].from_outputs(step.outputs)
        except ValidationError:
            continue  # a record of another shape (an older version): no evidence of anything
        ref = f"{step.run_id}:{step.step_id}:{step.seq}"
        if isinstance(record, Review) and record.verdict == "request_changes":
            for n, f in enumerate(x for x in record.findings if x.severity in SERIOUS):
                named = re.fullmatch(r"(?:\./)?(.+?)(?::(\d+))?", (f.file or "").strip())
                path, line = (named[1], named[2]) if named else (None, None)
                yield Citation(
                    ref=f"{ref}:{n}",
                    issue=issue,
                    source="review",
                    about=f"file:{path}" if path else f"finding:{_words(f.description)}",
                    file=path,
                    line=int(line) if line else None,
                    words=f.description[:400],
                )
        if isinstance(record, Healed) and record.culprit and record.culprit_issue is not None:
            words = f"regression since {record.culprit[:12]}: {record.reason}"[:400]
            culprit = record.culprit  # a factory merge broke production: its files are cited
            for path in services.repo.changed_paths(f"{culprit}^1", culprit)[:MAX_FILES]:
                yield Citation(
                    ref=f"{ref}:{path}",
                    issue=record.culprit_issue,
                    source="regression",
                    about=f"file:{path}",
                    file=path,
                    words=words,
                )
        refused = isinstance(record, GateReport) and not record.passed
        if refused or (isinstance(record, Validation) and not _handled(record)):
            for g in record.gates if isinstance(record, GateReport | Validation) else []:
                if not g.passed and g.name not in SEALED:
                    yield Citation(
                        ref=f"{ref}:{g.name}",
                        issue=issue,
                        source="gate" if refused else "validation",
                        about=f"gate:{g.name}",
                        rule=g.name,
                        words=g.evidence[:400],
                    )


def _handled(validation: Validation) -> bool:
    """A validation that merged, or one whose route the factory takes in code whatever the
    rules say (``HANDLED``): a change taken up again on a production that moved under it, a
    suite its time limit stopped twice. No rule an agent reads would have changed either."""
    return validation.route == "merge" or any(rule in validation.rule for rule in HANDLED)


def citations(services: Services) -> Iterator[Citation]:
    """Every citation the records give, newest first: the steps', then people's."""
    yield from _from_records(services)
    for event in reversed(services.store.events(kind="human.")):
        reason = str(event.data.get("reason") or "").strip()
        if reason:
            said = RULE.search(reason)
            rule = f"{said[1]}: {said[2].strip()}" if said else None
            number = event.data.get("issue")
            yield Citation(
                ref=f"event:{event.id}",
                issue=number if isinstance(number, int) else None,
                source="maintainer",
                about=f"rule:{rule}" if rule else f"decision:{_words(reason)}",
                rule=rule,
                words=f"{event.kind.removeprefix('human.')}: {reason}"[:400],
            )


def recheck(citation: Citation, files: set[str], texts: dict[str, str]) -> Citation:
    """The citation, marked stale when what it names is gone from production."""
    stale = None
    said = RULE.fullmatch(citation.rule or "")
    if citation.file and citation.file not in files:
        stale = f"{citation.file} is no longer on production"
    elif said and said[2].strip().lower() not in texts.get(said[1], "").lower():
        stale = f"{said[1]} no longer says {said[2].strip()!r}"
    return citation.evolve(stale=stale) if stale else citation


def proposals(services: Services) -> list[tuple[Proposal, str]]:
    """Every proposal made, newest first, with its pull request's state (open, merged or
    closed; one the forge does not show yet counts as open)."""
    made = services.store.artifacts(Proposal, None, ANY_RUN, limit=500)
    found = [(p, services.forge.find_pr(p.branch)) for _, p in made]
    return [(p, pr.state if pr is not None else "open") for p, pr in found]


def picks(services: Services) -> list[tuple[set[str], str | None]]:
    """Each lesson a ``lessons`` run picked, newest first: the refs of its citations and what
    the learner answered (its ``new_text``: empty for no edit; None: no answer)."""
    store = services.store
    edits = dict(store.artifacts(GovernanceEdit, None, ANY_RUN, limit=500))
    picked = store.artifacts(Lesson, None, ANY_RUN, limit=500)
    return [
        ({c.ref for c in x.citations}, getattr(edits.get(run), "new_text", None))
        for run, x in picked
    ]


def lessons(services: Services) -> list[Lesson]:
    """The lessons, most cited first: one a cause, its citations those resting on the very same
    refusals (the live ones' issues: two gates and a person refusing one issue's change are one
    piece of evidence). Proposable: two independent live citations (distinct issues) that no
    open or merged proposal rests on, no proposal of its own open or merged, none closed
    that rested on all of its issues (a closed one is remembered: only a new issue brings its
    lesson back), and a citation the learner has not answered "no edit" to (remembered until
    new evidence arrives)."""
    governance = services.settings.governance
    made = proposals(services)
    files = set(services.repo.list_tree(governance.commit))
    texts = dict(governance.texts())
    checked = [recheck(citation, files, texts) for citation in citations(services)]
    unit = {c.ref: c.ref if c.issue is None else c.issue for c in checked}
    live: dict[str, set[object]] = {}
    for c in checked:
        live.setdefault(c.about, set()).update([unit[c.ref]] if c.stale is None else [])
    causes: dict[object, list[Citation]] = {}
    for c in checked:
        causes.setdefault(frozenset(live[c.about]) or c.about, []).append(c)
    held = [(set(p.cited), {unit.get(r, r) for r in p.cited}, state) for p, state in made]
    taken = {u for _, units, state in held if state != "closed" for u in units}
    no_edit = {ref for refs, said in picks(services) if said == "" for ref in refs}
    found: list[Lesson] = []
    for key, cited in causes.items():
        issues = key if isinstance(key, frozenset) else frozenset()
        ours = [state for refs, _, state in held if refs & {c.ref for c in cited}]
        said_no = any(state == "closed" and issues <= units for _, units, state in held)
        quiet = {c.ref for c in cited} <= no_edit  # the learner saw all of it: no edit
        blocked = said_no or quiet or any(state != "closed" for state in ours)
        found.append(
            Lesson(
                about=" + ".join(sorted({c.about for c in cited})),
                citations=cited,
                independent=len(issues),
                stale=not issues,
                proposal=ours[0] if ours else "no edit" if quiet else None,
                proposable=len(issues - taken) >= 2 and not blocked,
            )
        )
    return sorted(found, key=lambda x: (-len(x.citations), x.about))
