"""The change an issue's pull request holds, as a unified diff: what ``factory diff N`` prints
and the dashboard's issue page shows; a lesson's (``factory diff --lesson N``) and the body of
its pull request too. Agent-written text: redacted here, escaped where shown."""

from __future__ import annotations

from dataclasses import dataclass

from harness.artifacts import ANY_RUN, PrCandidate, Prepared, Proposal, ValidationTarget
from harness.engine.records import RunRecords
from harness.errors import GitError, NotFoundError, UsageError
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

    @property
    def title(self) -> str:
        """The pull request, its branch and its commits, on one line."""
        return f"PR {self.pr} ({self.branch}): {self.base[:12]}...{self.head[:12]}"

    @property
    def lines(self) -> list[tuple[str, str]]:
        """Each line of the diff with its kind: ``add``, ``del`` or ``ctx``."""
        kinds = {"+": "add", "-": "del"}
        return [
            (kinds.get(line[:1], "ctx") if line[:3] not in ("+++", "---") else "ctx", line)
            for line in self.text.splitlines()
        ]

    def shown(self) -> str:
        """What ``factory diff`` prints: a line naming the pull request, then the diff."""
        return f"# {self.title}\n{self.text}"


def change_diff(
    store: Store, repo: GitRepo, number: int, run: RunRecords | None = None
) -> ChangeDiff | None:
    """The newest pull request the factory opened for issue ``number`` or, given ``run``, the
    one that run opened or validated (at the head it validated), against the commit it was
    made from (None: there is none)."""
    candidate = run.newest(PrCandidate) if run else store.latest_artifact(PrCandidate, number)
    if run is not None and (targets := run.every(ValidationTarget)):  # recorded as one
        taken = Prepared.from_outputs(targets[-1][0].outputs)
        candidate = taken.candidate.evolve(head=taken.head)
    return None if candidate is None else diff_of(repo, candidate)


def required_change(store: Store, repo: GitRepo, number: int) -> ChangeDiff:
    """``change_diff`` for a face that shows it (``factory diff``, MCP's ``diff``), or a usage
    error that says why there is none: no such issue (no run of the factory and no issue of
    the local forge has its number), or no pull request from the factory."""
    found = change_diff(store, repo, number)
    if found is not None:
        return found
    try:
        known = bool(store.list_runs(limit=1, issue=number) or store.issue(number))
    except NotFoundError:
        known = False
    if known:
        raise UsageError(f"issue {number} has no pull request from the factory")
    raise UsageError(f"no such issue: the factory knows no issue {number}")


def lesson_diff(store: Store, repo: GitRepo, pr: int) -> ChangeDiff | None:
    """The edit of the lesson whose pull request is ``pr`` (``factory lessons propose``)."""
    made = [p for _, p in store.artifacts(Proposal, None, ANY_RUN, limit=500) if p.pr == pr]
    return diff_of(repo, made[0]) if made else None


def diff_of(repo: GitRepo, made: PrCandidate | Proposal) -> ChangeDiff:
    """The change a pull request the factory made (or is making) holds, redacted."""
    try:
        text = repo.diff_text(made.base, made.head, MAX_DIFF_BYTES)
    except GitError:
        text = f"[the commits {made.base[:12]}…{made.head[:12]} are not in this checkout]"
    return ChangeDiff(made.pr, made.branch, made.base, made.head, redact(text))
