"""The change an issue's pull request holds, as a unified diff: what ``factory diff N`` prints
and the dashboard's issue page shows. Agent-written text: redacted here, escaped where shown."""

from __future__ import annotations

from dataclasses import dataclass

from harness.artifacts import PrCandidate, Prepared, RunRecords, ValidationTarget
from harness.errors import GitError
from harness.git.repo import GitRepo
from harness.redact import redact
from harness.store.db import Store

MAX_DIFF_BYTES = 100_000


@dataclass(frozen=True)
class ChangeDiff:
    pr: int
    branch: str
    base: str
    head: str  # the head its gates passed on
    text: str  # cut past MAX_DIFF_BYTES, with a line that says so


def change_diff(
    store: Store, repo: GitRepo, number: int, run: RunRecords | None = None
) -> ChangeDiff | None:
    """The newest pull request the factory opened for issue ``number`` or, given ``run``, the
    one that run opened or validated (at the head it validated), against the commit it was
    made from (None: there is none)."""
    candidate = run.newest(PrCandidate) if run else store.latest_artifact(PrCandidate, number)
    if run is not None and (targets := run.every(ValidationTarget)):  # recorded as one
        taken = Prepared.from_outputs(targets[-1][0].outputs)
        candidate = taken.candidate.model_copy(update={"head": taken.head})
    if candidate is None:
        return None
    try:
        text = repo.diff_text(candidate.base, candidate.head, MAX_DIFF_BYTES)
    except GitError:
        text = f"[the commits {candidate.base[:12]}…{candidate.head[:12]} are not in this checkout]"
    return ChangeDiff(candidate.pr, candidate.branch, candidate.base, candidate.head, redact(text))
