"""The ``Forge`` protocol that the local forge and the GitHub forge implement.

Only the applier (deterministic code) writes through a forge; agents never
hold one. Every write is safe to repeat: comments are found by their hidden
marker before one is created, PRs by their deterministic branch.
"""

from __future__ import annotations

import base64
import getpass
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from typing_extensions import TypedDict  # pydantic reads it on Python 3.11 (MCP's answers)

from harness.digest import sha256
from harness.errors import ForgeError
from harness.faults import fault_point
from harness.forge import neutral
from harness.forge.markers import Markers
from harness.paths import shipped_yaml

IssueState = Literal["open", "closed"]


class Label:
    """The factory's labels, by what they say: the one place their names are written."""

    ACCEPTED: Final = "factory:accepted"
    REJECTED: Final = "factory:rejected"
    NEEDS_INFO: Final = "factory:needs-info"
    NEEDS_HUMAN: Final = "factory:needs-human"
    IN_PROGRESS: Final = "factory:in-progress"
    NEEDS_REVIEW: Final = "factory:needs-review"
    MERGED: Final = "factory:merged"
    FAILED: Final = "factory:failed"
    REGRESSION: Final = "factory:regression"
    DEFERRED: Final = "factory:deferred"
    APPROVED: Final = "factory:approved"
    FOUND: Final = "factory:found"  # the factory's audit filed it (beside a state)


def factory_labels() -> dict[str, list[str]]:
    """Every label the factory sets up on a forge, name -> [colour, description]: the shipped
    ``workflows/forge/labels.yaml`` (``Label`` names those the factory sets)."""
    found: dict[str, list[str]] = shipped_yaml("forge", "labels.yaml")
    return found


# Where the factory is with an issue. An issue whose labels hold none of them has not been
# triaged. ``Label.REGRESSION`` and ``Label.APPROVED`` are not states: they travel beside one.
# An issue with several is in the first it carries (the dashboard's queue; the local forge keeps
# each issue's by trigger, ``harness/store/forge_tables.py``: a new order is a migration).
STATE_LABELS = (
    Label.MERGED,
    Label.REJECTED,
    Label.IN_PROGRESS,
    Label.NEEDS_REVIEW,
    Label.NEEDS_HUMAN,
    Label.FAILED,
    Label.DEFERRED,
    Label.NEEDS_INFO,
    Label.ACCEPTED,
)
# an issue carries one label of each family: a new one replaces the others (``set_state``)
ONE_OF = ("kind:", "priority:")
# the states a closed issue is in; any other state label it still carries is history (a
# closed issue is closed, whatever it waited for when it was closed)
CLOSED_STATES = (Label.MERGED, Label.REJECTED)
# how the audit knew its issues before it filed them through ``file_once``: read as their key
_FINGERPRINT = re.compile(r"^Fingerprint: `([0-9a-f]{20})`", re.M)


def default_author(fallback: str = "local") -> str:
    """The OS user name, else ``fallback``."""
    try:
        return getpass.getuser() or fallback
    except (KeyError, OSError):
        return fallback


def queue_state(issue: Issue) -> str:
    """Where an issue stands on the queue: an open one in the first ``STATE_LABELS`` it has,
    else new; a closed one in the first ``CLOSED_STATES``, else closed."""
    held = STATE_LABELS if issue.state == "open" else CLOSED_STATES
    return next(
        (label for label in held if label in issue.labels),
        "new" if issue.state == "open" else "closed",
    )


@dataclass(frozen=True)
class Comment:
    id: int
    author: str
    body: str
    created_at: str


@dataclass(frozen=True)
class Queued:
    """What the queue needs of an open issue to know whether it is ready: who filed it and
    its labels (``ready_to_implement``), read without its text."""

    number: int
    author: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Issue:
    number: int
    title: str
    body: str
    author: str
    state: str  # open | closed
    labels: tuple[str, ...]
    created_at: str
    updated_at: str
    comment_count: int | None = None  # as the forge's listing counted them; None: not said

    def to_json(self, comments: list[Comment]) -> IssueJson:
        """The JSON of ``factory issue show --json`` (docs/user-guide.md, "``--json`` fields")."""
        return {
            "number": self.number,
            "title": self.title,
            "body": self.body,
            "author": self.author,
            "state": self.state,
            "labels": list(self.labels),
            "comments": [{"author": c.author, "body": c.body} for c in comments],
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class IssueJson(TypedDict):
    """An issue as ``factory issue show --json`` prints it (docs/user-guide.md)."""

    number: int
    title: str
    body: str
    author: str
    state: str
    labels: list[str]
    comments: list[dict[str, str]]  # each one's author and body
    created_at: str
    updated_at: str


def issue_sha256(issue: Issue) -> str:
    """Hash of what the author wrote, recorded when triaged (an edit later is detectable, T8)."""
    return sha256(f"{issue.title}\0{issue.body}")


@dataclass(frozen=True)
class PullRequest:
    number: int
    issue: int
    branch: str
    base: str
    head_sha: str
    title: str
    body: str
    state: str  # open | merged | closed
    merge_sha: str | None = None


class Forge(Protocol):
    """Issues, labels, comments and pull requests on one repository."""

    kind: str  # "local" | "github"
    markers: Markers  # signs and recognises the factory's comments and hidden blocks

    @property
    def bot_login(self) -> str:
        """The login the factory writes as; its own comments and issues are not input."""

    def is_own(self, login: str) -> bool:
        """Whether ``login`` is the factory (its comments count, its issues are not input)."""

    # issues
    def list_issues(self, state: str) -> list[Issue]: ...
    def get_issue(self, number: int) -> Issue: ...
    def create_issue(self, title: str, body: str, author: str) -> Issue: ...
    def set_issue_state(self, number: int, state: IssueState) -> None: ...

    # labels (set semantics: adding a present label or removing an absent one is a no-op)
    def ensure_labels(self) -> None: ...
    def add_labels(self, number: int, labels: list[str]) -> None: ...
    def remove_labels(self, number: int, labels: list[str]) -> None: ...

    # comments (exactly once per marker)
    def list_comments(self, number: int) -> list[Comment]: ...
    def find_comment(self, number: int, key: str) -> Comment | None: ...
    def post_comment(self, number: int, key: str, body: str) -> Comment:
        """Post ``body`` under the signed marker ``key`` unless the factory's comment has it."""

    # pull requests (one per branch)
    def find_pr(self, branch: str) -> PullRequest | None: ...
    def open_pr(self, issue: int, branch: str, base: str, title: str, body: str) -> PullRequest:
        """Open a PR for ``branch`` or return the one already open for it."""

    def update_pr_body(self, number: int, body: str) -> None: ...
    def close_pr(self, number: int) -> None:
        """Close an open PR without merging (idempotent)."""

    def ci_status(self, sha: str) -> str:
        """``success`` | ``failure`` | ``pending`` | ``none``."""

    def merge_pr(self, number: int, expected_head_sha: str) -> str:
        """Merge if the PR head is still ``expected_head_sha``; returns the merge SHA."""

    def merged_pr(self, sha: str) -> PullRequest | None:
        """The factory's pull request that the factory merged as ``sha``, on the forge's own
        record (GitHub's: who opened it, who merged it), for a runner that keeps no state
        between runs; None on a forge whose merges the factory's store records."""

    # the request budget of a remote forge
    def request_budget_stop(self, taken: int) -> str | None:
        """Why a run that took ``taken`` issues must take no more now, or ``None``."""

    def settle(self) -> None:
        """At a run's end: what lets the next run start cheaply (nothing for a local forge)."""

    # the production branch
    def sync(self, branch: str) -> str:
        """Bring the local ``branch`` up to the forge's; return its head SHA."""

    def revert_merge(self, branch: str, merge_sha: str, message: str) -> str:
        """Undo ``merge_sha`` with a new commit on ``branch`` while it is still the head."""


def set_state(forge: Forge, number: int, label: str | None, beside: tuple[str, ...] = ()) -> None:
    """Put issue ``number`` in the one state ``label`` (None: to be triaged again), with the
    labels ``beside`` it added in one go; every other state label goes, and so does every
    other label of a family (``ONE_OF``) one of ``beside`` belongs to. The new labels come
    first: interrupted in between, the issue is never without a state (it would look
    untriaged), and the next cycle resumes the still open run whatever the labels say."""
    if label is not None or beside:
        forge.add_labels(number, [*([label] if label else []), *beside])
    fault_point("forge.state.added")
    families = tuple(family for family in ONE_OF if any(b.startswith(family) for b in beside))
    replaced = [x for x in factory_labels() if x.startswith(families) and x not in beside]
    forge.remove_labels(number, [*(x for x in STATE_LABELS if x != label), *replaced])


def refuse_unmergeable(pr: PullRequest, expected_head_sha: str, head: str | None) -> None:
    """Refuse to merge ``pr`` unless it is open and its ``head`` is still the one tested."""
    if pr.state != "open":
        raise ForgeError(f"pull request {pr.number} is {pr.state}, not open")
    if head != expected_head_sha:
        raise ForgeError(
            f"pull request {pr.number}: head is {head}, expected {expected_head_sha}; not merged"
        )


def merge_subject(pr: PullRequest) -> str:
    """The subject of a pull request's merge commit, on either forge."""
    return f"Merge {pr.branch}: {neutral.subject(pr.title, 200)}"


def create_own_issue(forge: Forge, title: str, body: str) -> Issue:
    """An issue the factory files itself, its body signed (``Markers.sign_text``)."""
    return forge.create_issue(title, forge.markers.sign_text(body), forge.bot_login)


def own_text(forge: Forge, issue: Issue) -> str | None:
    """The body of an issue the factory filed itself as it filed it, its blocks left out;
    None for anyone else's, or one edited since (docs/heal.md, "The loop closes")."""
    return forge.markers.signed_text(issue.body) if forge.is_own(issue.author) else None


def filed_issues(forge: Forge) -> dict[str, Issue]:
    """The factory's own issues (open or closed) by the key each was filed under: the signed
    block ``file_once`` puts in its body, or, for one the audit filed before it filed through
    ``file_once``, the fingerprint its body names (``audit:<fingerprint>``); the first wins."""
    found: dict[str, Issue] = {}
    for issue in forge.list_issues("all"):
        if not forge.is_own(issue.author):
            continue
        payload = forge.markers.read_block("issue", 0, issue.body)
        keys = (
            [f"audit:{fingerprint}" for fingerprint in _FINGERPRINT.findall(issue.body)]
            if payload is None
            else [base64.urlsafe_b64decode(payload).decode()]
        )
        for key in keys:
            found.setdefault(key, issue)
    return found


def file_once(
    forge: Forge,
    key: str,
    title: str,
    body: str,
    state: str | None = None,
    beside: tuple[str, ...] = (),
    reopen: bool = True,
    filed: Mapping[str, Issue] | None = None,
) -> Issue:
    """The factory's own issue ``key``, found among those filed (``filed``, read once by a
    caller that files several; else read now) before one is filed: never twice, even after a
    kill; put in ``state`` (with ``beside``) while it has none, or given ``beside`` without
    a ``state``; reopened unless ``reopen`` is off."""
    issue = (filed_issues(forge) if filed is None else filed).get(key)
    if issue is None:
        block = forge.markers.block("issue", 0, base64.urlsafe_b64encode(key.encode()).decode())
        issue = create_own_issue(forge, title, f"{body}\n\n{block}")
        fault_point("forge.issue.filed")  # filed, its run's record not yet written
    if reopen and issue.state != "open":
        forge.set_issue_state(issue.number, "open")
    if state is not None and not set(issue.labels) & set(STATE_LABELS):
        set_state(forge, issue.number, state, beside)
    elif state is None and beside:
        forge.add_labels(issue.number, list(beside))
    return issue
