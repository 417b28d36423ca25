"""The implement workflow's records: the assignment and the attempt before it, the worktree,
the agents' plan, change and review, the tests, the commit, the gates, the pull request,
and setup with what it reached through the egress proxy."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.artifacts.base import Artifact, GateResult, Inputs
from harness.artifacts.triage import IssueSpec
from harness.artifacts.verdict import CriterionResult

__all__ = (
    "Assignment",
    "ChangeInputs",
    "Coded",
    "Commit",
    "Connection",
    "Finding",
    "GateReport",
    "Implemented",
    "NetworkRecord",
    "Plan",
    "PrCandidate",
    "PreviousAttempt",
    "RevertedChange",
    "Review",
    "SetupRecord",
    "SetupRun",
    "Tested",
    "Worktree",
)


class PreviousAttempt(Artifact):
    """``harness.implement.feedback``: the newest finished attempt at an issue and what the
    evidence said about it, as ``Assignment.previous`` keeps it for the next attempt."""

    implement_run: str
    branch: str
    base_sha: str
    head: str
    automatic: bool  # the factory itself routed it to a retry (else a person re-queued it)
    resume: bool  # continue from its branch's work (not after a merge that was reverted)
    committed: bool  # the branch holds commits of this attempt's own (else only its start)
    fix_attempts: int  # the fix attempts this new attempt starts with
    ended: str  # where it was refused, in a few words
    route: str | None = None  # the validation's route, when it was validated
    verdict: str | None = None
    score: float | None = None
    summary: str = ""
    criteria: list[CriterionResult] = Field(default_factory=list)
    holdout_failed: bool = False
    gates_failed: list[dict[str, str]] = Field(default_factory=list)
    findings: list[dict[str, str]] = Field(default_factory=list)
    test_output: str = ""
    declined: str = ""
    conflict: str = ""  # it no longer merged with production: how (its files, in git's words)
    diff: str = ""  # the refused change, for a conflict: it is merged onto the new production
    tier: int = 0  # its ``Assignment.tier``: the next attempt runs one above it
    retried_by: str = ""  # a person who sent it back since (``factory retry``, an approval)
    refused: str = ""  # why the validator_evidence gate refused the verdict it was given
    holdout_changed: bool = False  # the hold-out's digest differs from the one it was judged by
    judged: str | None = None  # that digest, as its validation recorded it


class RevertedChange(Artifact):
    """The change a regression issue of the factory's own brings back, as heal signed it in
    the issue (``harness.implement.spec.change_block``): its issue's number, title, body and
    criteria as triage accepted them, the files and the diff of its merge (both bounded)."""

    issue: int
    title: str
    body: str
    criteria: list[str]
    files: list[str]
    diff: str


class Assignment(IssueSpec):
    """``implement.prepare``: the spec an attempt works from, the triage run that gave it,
    and what the refused attempt before it showed (``harness.implement.feedback``'s record,
    as JSON)."""

    triage_run: str | None = None
    previous: PreviousAttempt | None = None
    holdout: str = ""  # the hold-out's digest when the attempt started (never its content)
    tier: int = 0  # refused attempts before this one (a rebase: none): ``models.escalate``
    models: dict[str, str] = Field(default_factory=dict)  # role -> the model this attempt calls
    reverted: RevertedChange | None = None  # a regression issue's: the change it brings back


class ChangeInputs(Inputs):
    """The ``implement`` workflow's inputs, and its ``revert``'s: the culprit merge heal
    undoes and the spec the factory wrote for its regression issue."""

    number: int | None = None
    culprit: str | None = None
    spec: Assignment | None = None


class Worktree(Artifact):
    """``implement.worktree``: where an attempt works, on which branch, from which commits
    (``continues``: the refused attempt's branch it goes on from)."""

    path: str
    branch: str
    base_sha: str
    start_sha: str
    continues: str | None = None
    # a refused change that no longer merged, merged onto production again: the files left
    # with conflict markers (None: no such merge; []: it merged cleanly)
    conflicts: list[str] | None = None


class Plan(Artifact):
    """The planner's ``submit_plan``."""

    plan: str
    files: list[str] = Field(default_factory=list)
    outcome: Literal["ready", "blocked"] | None = None
    reason: str | None = None


class Implemented(Artifact):
    """The implementer's ``finish``: what the change does, or why it was declined."""

    summary: str
    outcome: Literal["done", "blocked"] | None = None
    reason: str | None = None


class Coded(Implemented):
    """The implementer's ``finish`` as its step kept it, with the new files a ``.gitignore``
    keeps out of the change (the agent step's ``_ignored``)."""

    ignored: list[str] = Field(default_factory=list, alias="_ignored")


class Finding(Artifact):
    severity: str
    description: str
    file: str | None = None


class Review(Artifact):
    """The reviewer's ``submit_review`` (in a fresh context, on the diff)."""

    verdict: Literal["approve", "request_changes"]
    score: float
    findings: list[Finding] = Field(default_factory=list)


class Commit(Artifact):
    """``implement.commit``: the commit of exactly the tree the tests ran on."""

    head: str
    base: str
    tree: str | None


class GateReport(Artifact):
    """``implement.gates``: every gate on the final commit (a failing one fails the step with
    this as its evidence)."""

    gates: list[GateResult]
    passed: bool
    fix_attempts: int = 0

    def refusal(self) -> str:
        """The one sentence that says which gates refused the change (each one's evidence
        beside it)."""
        return f"gates failed: {', '.join(g.name for g in self.gates if not g.passed)}."


class PrCandidate(Artifact):
    """A pull request the factory opened, with the head its gates passed on and its
    provenance (the implement run and the spec it worked from)."""

    pr: int
    branch: str
    head: str  # the gated head
    base: str
    gates: list[GateResult]
    fix_attempts: int = 0
    implement_run: str
    spec: IssueSpec
    triage_run: str | None = None
    findings: list[Finding] = Field(default_factory=list)  # the reviewers' on the gated head


class Tested(Artifact):
    """``commands.test`` on a commit's tree, in the sandbox without the network."""

    command: str
    exit_code: int
    output: str = ""
    tree: str
    duration_s: float = 0.0
    limit_hit: str | None = None  # a sandbox limit that stopped it (time, memory …)
    suite: bool = True  # the whole suite (commands.test), not chosen tests (test_files)
    again: bool = False  # run once more alone: its time limit stopped it beside other work
    flaky_again: bool = False  # run once more, whole: it failed holding a check heal found flaky
    decided_by: str | None = None  # what decides it (``harness.validate.suite``): tree, setup …
    host: dict[str, str] = Field(default_factory=dict)  # what it saw of the host (``host_seen``)
    reused_from: str | None = None  # the run that ran it, when this record reuses its result


class Connection(Artifact):
    """One connection the set-up asked the proxy for (one line of squid's log)."""

    host: str
    port: int
    method: str  # CONNECT for TLS, else the HTTP method of a plain request
    allowed: bool  # False: not on the list, an unreachable address, or not a valid request
    status: int  # the HTTP status the proxy answered (403: refused)
    sent: int  # bytes from the set-up command
    received: int  # bytes to it
    address: str | None = None  # the address the proxy connected to


class NetworkRecord(Artifact):
    """What one set-up run could reach and every connection it made through the proxy."""

    allow: tuple[str, ...]
    connections: tuple[Connection, ...] = ()
    dropped: int = 0  # connections beyond the proxy's MAX_RECORDED, not listed

    def refused(self) -> list[str]:
        """``host:port`` of every connection the proxy refused, once each, in order."""
        return list(dict.fromkeys(f"{c.host}:{c.port}" for c in self.connections if not c.allowed))

    def lines(self) -> list[str]:
        """For a person: the allow-list, then connections grouped by host, port and verdict."""
        allow = ", ".join(self.allow) or "nothing"
        out = [f"setup network (egress proxy): allowed {allow}"]
        groups: dict[tuple[bool, str, int], list[Connection]] = {}
        for c in self.connections:
            groups.setdefault((c.allowed, c.host, c.port), []).append(c)
        for (allowed, host, port), found in groups.items():
            verdict = "allowed" if allowed else "REFUSED"
            sent, received = sum(c.sent for c in found), sum(c.received for c in found)
            count = f"{len(found)} connection{'s' if len(found) != 1 else ''}"
            out.append(
                f"  {verdict}  {host}:{port}  {count}, {sent:,} bytes sent, "
                f"{received:,} received (HTTP {found[-1].status})"
            )
        if not self.connections:
            out.append("  no connection")
        if self.dropped:
            out.append(f"  and {self.dropped} more connections, not listed")
        return out


class SetupRecord(Artifact):
    """What production's set-up was seen to do on the tree of ``commit`` (docs/sandbox.md,
    "Set-up observed"), kept with the set-up: the paths of the tree it opened (``read``; a
    folder it listed ends in ``/``) and the distributions it left installed, by name."""

    commit: str
    read: list[str]
    installed: dict[str, str]  # name -> version, from the environment's own metadata


class SetupRun(Artifact):
    """``implement.setup``: ``commands.setup`` on production's tree through the egress proxy
    (and again offline when the change touched what it reads); what it made (``artifacts``:
    untracked files) is never committed."""

    command: str | None  # None: no commands.setup
    exit_code: int
    output: str = ""
    network: NetworkRecord | None = None
    artifacts: list[str] = Field(default_factory=list)
