"""The sealed validator's answer: its verdict per criterion id, and how it was given or kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from harness.artifacts.base import Artifact
from harness.artifacts.browser import Observation

__all__ = (
    "CriterionResult",
    "CriterionRow",
    "KeptVerdict",
    "Regression",
    "ValidatorRun",
    "Verdict",
    "criterion_ids",
)


class CriterionResult(Artifact):
    """One criterion as the validator judged it: ``criterion`` is its id in the signed spec
    (``criterion_ids``), ``observations`` the numbers of the observations it rests on,
    ``evidence`` what it says it saw (or, not observable, what it lacks), ``quote`` the text
    of one of those observations that shows it (a pass needs one the harness finds there:
    ``harness.validate.route.unsupported``)."""

    criterion: str
    result: Literal["pass", "fail", "not_observable"]
    evidence: str = ""
    observations: list[int] = Field(default_factory=list)
    quote: str = ""


class Regression(Artifact):
    """Something the issue did not ask to change that the validator saw broken or gone."""

    what: str
    observations: list[int] = Field(default_factory=list)


class Intended(Artifact):
    """A learned check that fails on the change (``check``: its id) and that the change
    means to change, as the validator says: the ``criterion`` of this issue that changes it."""

    check: str
    criterion: str


class Verdict(Artifact):
    """The sealed validator's verdict, as its output tool gave it."""

    verdict: Literal["pass", "fail"]
    score: float
    criteria: list[CriterionResult] = Field(default_factory=list)
    summary: str = ""
    regressions: list[Regression] = Field(default_factory=list)
    intended: list[Intended] = Field(default_factory=list)

    def results(self, result: str) -> list[str]:
        """The ids of the criteria judged ``result`` (``fail``, ``not_observable``…)."""
        return [c.criterion for c in self.criteria if c.result == result]

    def judged(self) -> dict[str, CriterionResult]:
        """Each criterion's entry by its id: the first one the validator gave for it."""
        return {c.criterion: c for c in reversed(self.criteria)}


def criterion_ids(criteria: list[str]) -> list[str]:
    """The ids of a spec's acceptance criteria, as the validator is shown them: C1…Cn in
    their order (C1 alone, the issue's request itself, when triage gave none)."""
    return [f"C{n}" for n in range(1, max(len(criteria), 1) + 1)]


@dataclass(frozen=True)
class CriterionRow:
    """A criterion the validator was asked, for a person: its id and text, the validator's
    result and words, and the recorded observations its entry cites."""

    criterion: str
    text: str
    result: str  # pass | fail | not_observable | not judged
    evidence: str
    quote: str  # what it quotes of a cited observation as showing the criterion
    cited: list[Observation]


class KeptVerdict(Artifact):
    """How a verdict given on an earlier candidate of the same head was kept: the files the
    two candidates differ in, and how many of its recorded actions were done again and
    showed the same (0: only files the app cannot show differ)."""

    candidate: str
    changed: list[str]
    replayed: int = 0
    run: str | None = None  # the run whose validator gave it


class ValidatorRun(Artifact):
    """The sealed validator's answer, parsed once where it comes back from the seal: its
    verdict (``output``; None when it gave none, and ``error`` says why), its screenshots, the
    requests its browser blocked, what each of its actions showed it, the digest of the
    question it was asked and, for a verdict kept from an earlier candidate, how."""

    output: Verdict | None = None
    shots: list[str] = Field(default_factory=list)
    blocked: list[str] = Field(default_factory=list)
    observed: list[Observation] = Field(default_factory=list)
    error: str | None = None
    message: str | None = None
    asked: str = ""
    kept: KeptVerdict | None = None
    # connections to the seal's sockets from any process but the seal's: refused (who, which)
    refused: list[str] = Field(default_factory=list)
    criteria: list[str] = Field(default_factory=list)  # the acceptance criteria it was asked
    sent_back: str = ""  # what its first verdict lacked, when it was sent back to look again
    # its transcript: written to a file of its own, never into the step's record
    messages: list[dict[str, object]] = Field(default_factory=list, exclude=True)

    def by_criterion(self) -> list[CriterionRow]:
        """For a person (``factory report``, MCP, the dashboard, the validation's comment): each
        criterion it was asked, in the spec's order, with the validator's result, words and
        quote, and the recorded observations it cites (action, input, status, what it saw,
        where it was made)."""
        judged = self.output.judged() if self.output is not None else {}
        seen = {o.number: o for o in self.observed}
        rows: list[CriterionRow] = []
        for cid, text in zip(criterion_ids(self.criteria), self.criteria or [""], strict=True):
            entry = judged.get(cid)
            cited = [seen[n] for n in entry.observations if n in seen] if entry else []
            result = entry.result if entry else "not judged"
            said = (entry.evidence, entry.quote) if entry else ("", "")
            rows.append(CriterionRow(cid, text, result, *said, cited))
        return rows
