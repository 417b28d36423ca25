"""What the rooms hand out: typed, frozen records, one type per fact, looked up by type —
never by the id of the step that made it (docs/architecture.md, "What flows between
workflows")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any, Generic, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.browser.results import JourneyResult, Observation
from harness.store.records import StepRecord


class Artifact(BaseModel):
    """Base of every record: strict (unknown keys are errors) and immutable. Each record's
    validator is built when it is first used, not when the module is imported (a process
    uses a few of them: the sealed validator three)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, object]) -> Self:
        """The record inside a step's persisted outputs (which may hold step-only extras)."""
        keys = {field.alias or name for name, field in cls.model_fields.items()}
        return cls.model_validate({k: v for k, v in outputs.items() if k in keys})


class Inputs(BaseModel):
    """Base of a workflow's inputs, one frozen model per workflow: what its runner gives
    ``Engine.run`` and an action that reads them names as its ``inputs`` parameter."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TriageInputs(Inputs):
    number: int | None = None


class AckInputs(Inputs):
    number: int | None = None
    triage_at: str | None = None  # when triage will judge the issue, as the comment says


class GateResult(Artifact):
    """One gate computed in code from evidence; routing finds a gate by its name."""

    name: str
    passed: bool
    evidence: str = ""


# every status a run may be in: a record counts whatever became of the run that made it
ANY_RUN = ("succeeded", "failed", "running", "stopped")

# gates whose failure sends a change to a person instead of refusing it: what the tests do
# not prove, what the security gate or a second reviewer stops at, a pass without evidence,
# what setup runs or may reach (docs/sandbox.md)
FOR_A_PERSON = (
    "tests_kept",
    "bug_test_fails_before",
    "security",
    "reviews_agree",
    "validator_evidence",
    "setup_code",
    "network_allow",
    "setup_network",
)


def gates_failed(failed: list[GateResult]) -> str:
    """The one sentence that says which gates refused a change (each one's evidence beside it)."""
    return f"gates failed: {', '.join(g.name for g in failed)}."


class IssueSpec(Artifact):
    """Triage's decision and the sanitised issue text it judged: what implementation and
    validation work from (never the live issue)."""

    number: int
    title: str = ""
    body: str = ""
    issue_sha256: str = ""
    decision: str
    reason: str | None = None
    rule: str | None = None
    kind: str | None = None
    priority: str | None = None
    acceptance_criteria: list[str] = Field(default_factory=list)
    source: str = ""
    # criteria the app under validation cannot show, with what it lacks: the issue went to a
    # person at triage
    unobservable: list[str] = Field(default_factory=list)


class Screened(Artifact):
    """``triage.prescreen``: what the pre-screen concluded (``decision`` None: the triage
    agent judges), the issue's text as it read it, and its author."""

    decision: str | None  # reject | needs_human | deferred | None
    reason: str
    rule: str
    title: str
    body: str
    issue_sha256: str
    hidden: tuple[str, ...] = ()
    author: str = ""


class Unobservable(Artifact):
    criterion: str
    lacks: str


class Judgement(Artifact):
    """The triage agent's ``submit_triage``."""

    decision: Literal["accept", "reject", "needs_info"]
    priority: str
    kind: str
    reason: str
    rule: str | None = None
    acceptance_criteria: list[str] = Field(default_factory=list)
    unobservable: list[Unobservable] = Field(default_factory=list)


class Acknowledgement(Artifact):
    """``triage.ack``: whether a new issue got its first answer (the comment), and if not, why."""

    posted: bool
    comment_id: int | None = None
    held: str | None = None  # the pre-screen's decision the comment told of (None: none)
    why: str | None = None  # why nothing was posted


class Assignment(IssueSpec):
    """``implement.prepare``: the spec an attempt works from, the triage run that gave it,
    whether the issue was edited since, and what the refused attempt before it showed
    (``harness.implement.feedback``'s record, as JSON)."""

    triage_run: str | None = None
    edited_since_triage: bool = False
    previous: dict[str, object] | None = None
    holdout: str = ""  # the hold-out's digest when the attempt started (never its content)
    tier: int = 0  # refused attempts before this one (a rebase: none): ``models.escalate``
    models: dict[str, str] = Field(default_factory=dict)  # role -> the model this attempt calls
    reverted: dict[str, object] | None = None  # a regression issue's: the change it brings back


class ChangeInputs(Inputs):
    """The ``implement`` workflow's inputs, and its ``revert``'s: the culprit merge heal
    undoes and the spec the factory wrote for its regression issue."""

    number: int | None = None
    culprit: str | None = None
    spec: Assignment | None = None


class ValidateInputs(Inputs):
    number: int | None = None
    rehearsal: bool = False  # a backtest's: decided, never merged


class HealInputs(Inputs):
    health_run: str  # the red health run
    sha: str  # the production commit it found red


class AuditInputs(Inputs):
    dry_run: bool = False  # a look: files nothing


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


class AnalyserFinding(Artifact):
    """One finding of an analyser (``harness.analysers``), known by its ``fingerprint``: rule
    + path + ``snippet`` (its whitespace collapsed), never its line number."""

    analyser: str
    rule: str
    severity: str
    path: str
    line: int = 0
    message: str = ""
    snippet: str = ""
    fingerprint: str
    criterion: str = ""  # an auditor's suggested acceptance criterion
    identity: str = ""  # a secret's SHA-1: two secrets of one line are two findings (never shown)


class Found(Artifact):
    """``audit.select``: the findings an audit files (new by fingerprint, at most
    ``audit.max_issues``), how many it saw and already were issues, the analysers' errors;
    ``audit.file``: the same with the issue of each finding."""

    findings: list[AnalyserFinding]
    seen: int = 0
    known: int = 0
    errors: list[str] = Field(default_factory=list)
    issues: list[int] = Field(default_factory=list)


class AuditorFinding(Artifact):
    """One finding the auditor says the analysers missed, with the line it quotes."""

    rule: str
    path: str
    line: int
    snippet: str
    severity: str
    message: str
    criterion: str


class Audited(Artifact):
    """The auditor's ``submit_findings``."""

    findings: list[AuditorFinding]


class Analysed(Artifact):
    """``audit.analyse``: the analysers' findings over production's tree, and their errors."""

    findings: list[AnalyserFinding]
    errors: list[str] = Field(default_factory=list)


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


class ValidationTarget(Artifact):
    """Which PR, at which head, a validation run took up."""

    implement_run: str
    pr: int
    head: str


class Prepared(ValidationTarget):
    """``validate.prepare``'s record: the target, and the ``PrCandidate`` it came from, whole."""

    candidate: PrCandidate

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, object]) -> Self:
        if "candidate" not in outputs and isinstance(spec := outputs.get("spec"), dict):
            # recorded before the candidate was kept whole: its fields spread out, its base
            # branch (which validation never reads) not kept
            spec, fix_attempts = dict(spec), outputs.get("fix_attempts", 0)
            candidate = {k: outputs[k] for k in ("pr", "branch", "gates", "implement_run")}
            candidate.update(head=outputs["gated_head"], base="", fix_attempts=fix_attempts)
            candidate.update(triage_run=spec.pop("triage_run", None), spec=spec)
            outputs = {**outputs, "candidate": candidate}
        return super().from_outputs(outputs)


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


class CriterionResult(Artifact):
    """One criterion as the validator judged it: ``criterion`` is its id in the signed spec
    (``criterion_ids``), ``observations`` the numbers of the observations it rests on,
    ``evidence`` what it says it saw (or, not observable, what it lacks)."""

    criterion: str
    result: Literal["pass", "fail", "not_observable"]
    evidence: str = ""
    observations: list[int] = Field(default_factory=list)


class Regression(Artifact):
    """Something the issue did not ask to change that the validator saw broken or gone."""

    what: str
    observations: list[int] = Field(default_factory=list)


class Verdict(Artifact):
    """The sealed validator's verdict, as its output tool gave it."""

    verdict: Literal["pass", "fail"]
    score: float
    criteria: list[CriterionResult] = Field(default_factory=list)
    summary: str = ""
    regressions: list[Regression] = Field(default_factory=list)

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

    def by_criterion(self) -> list[dict[str, Any]]:
        """For a person (``factory report``, the dashboard): each criterion it was asked, in
        the spec's order, with its id and text, the validator's result and words, and the
        recorded observations it cites (action, input, status, what it saw)."""
        judged = self.output.judged() if self.output is not None else {}
        seen = {o.number: asdict(o) for o in self.observed}
        rows: list[dict[str, Any]] = []
        for cid, text in zip(criterion_ids(self.criteria), self.criteria or [""], strict=True):
            entry = judged.get(cid)
            cited = [seen[n] for n in entry.observations if n in seen] if entry else []
            rows.append(
                {
                    "criterion": cid,
                    "text": text,
                    "result": entry.result if entry else "not judged",
                    "evidence": entry.evidence if entry else "",
                    "cited": cited,
                }
            )
        return rows


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


class SetupRun(Artifact):
    """``implement.setup``: ``commands.setup`` on production's tree through the egress proxy
    (and again offline when the change touched what it reads); what it made (``artifacts``:
    untracked files) is never committed."""

    command: str | None  # None: no commands.setup
    exit_code: int
    output: str = ""
    offline_again_for: list[str] = Field(default_factory=list)
    network: NetworkRecord | None = None
    artifacts: list[str] = Field(default_factory=list)


class HoldoutRun(Artifact):
    """The hold-out's journeys on one commit, each on a fresh app of its own; when asked, the
    tests and the sealed validator on it too."""

    sha: str
    tree: str
    journeys: list[JourneyResult]
    journeys_passed: bool
    ports: list[int] = Field(default_factory=list)
    shots_dir: str = ""
    setup_offline_for: list[str] = Field(default_factory=list)  # the change touched these
    network: NetworkRecord | None = None  # setup's connections through the egress proxy
    tests: Tested | None = None
    # a bug fix's tests on production's code (the change's test files only): they must fail
    tests_before: Tested | None = None
    validator: ValidatorRun | None = None


class Baseline(HoldoutRun):
    """Calibration: the hold-out on production (``sha``: the commit of the same tree it was
    computed on, ``cached`` when it was known already). The candidate is built on ``base``:
    production with the changes ahead in the merge queue merged in (the issues in
    ``queued``), or production itself (None) when none is ahead."""

    production_sha: str
    cached: bool = False
    base: str | None = None
    queued: list[int] = Field(default_factory=list)

    @property
    def builds_on(self) -> str:
        return self.base or self.production_sha


class CheckResult(HoldoutRun):
    """``validate.check``: tests, journeys and the validator on the candidate (``sha``:
    production with the PR head merged in). On a ``conflict`` nothing was built or run:
    ``sha`` and ``tree`` are production's, no journey ran, and ``validator`` is the verdict
    the same head was given on an earlier candidate, if it had one (kept as given)."""

    production_sha: str
    head: str
    base: str | None = None  # what it was built on, when not production (``Baseline.base``)
    queued: list[int] = Field(default_factory=list)  # the changes ahead that ``base`` carries
    conflict: str | None = None
    tests_lost: list[str] = Field(default_factory=list)  # existing tests removed or emptied
    bug_tests: list[str] | None = None  # a bug fix's test files with a test (None: not a bug)

    @property
    def candidate(self) -> str | None:
        return None if self.conflict else self.sha

    @property
    def builds_on(self) -> str:
        return self.base or self.production_sha

    @property
    def verdict(self) -> Verdict | None:
        return self.validator.output if self.validator is not None else None


class Health(Artifact):
    """Production's own health: its tests and the hold-out on the production commit."""

    production_sha: str
    green: bool
    tests_exit_code: int | None = None
    journeys_failed: int = 0
    journeys: int = 0  # how many ran
    cached: bool = False
    skipped: str | None = None
    network: NetworkRecord | None = None  # this run's setup connections (none when cached)


class Probe(Artifact):
    """Heal's checks run on one commit (``harness.heal.checks``): those that failed, or why
    none could be judged (set-up, the app, the browser, a time limit)."""

    sha: str
    failed: list[str]
    environment: str | None = None
    alone: bool = False  # the tests by their ids (``commands.test_files``), not the whole suite


class Diagnosis(Artifact):
    """``heal.diagnose``: the checks that failed in the red ``health_run``, run ``again`` on
    the same commit (``flaky``: those that passed then, and those heal recorded flaky before,
    which no bisect follows)."""

    sha: str
    health_run: str
    verdict: Literal["flaky", "environment", "regression"]
    checks: list[str]
    flaky: list[str] = Field(default_factory=list)
    again: Probe | None = None
    reason: str = ""
    output: str = ""  # the tests' output in the red run (capped)


class Blame(Artifact):
    """``heal.bisect``: the oldest first-parent commit on which the checks fail (``probes``,
    in order) after ``green``; a merge the factory landed for ``issue`` (or of a revert), any
    other commit (``maintainer``), or none: not reproducible."""

    red: str
    green: str | None
    culprit: str | None
    culprit_kind: Literal["factory", "revert", "maintainer", "none"]
    issue: int | None = None
    commits: int = 0  # first-parent commits after the green end, up to the red one
    probes: list[Probe] = Field(default_factory=list)
    alone: bool = False  # its tests probed alone, by their ids: they fail so on the red commit


class Healed(Artifact):
    """``heal.act``: what became of red production ``sha`` (docs/heal.md); ``chain``: the heal
    attempts of one line of fixes."""

    outcome: Literal["reverted", "flaky", "environment", "needs_human"]
    sha: str  # the red production commit
    reason: str
    culprit: str | None = None
    culprit_issue: int | None = None
    regression_issue: int | None = None
    person_issue: int | None = None
    chain: int = 0
    flaky: list[str] = Field(default_factory=list)  # the checks it counted a flake of


class Routing(Artifact):
    """Where a validated change goes, and why, decided in code from the evidence
    (``harness.validate.route``): merge | needs_review | holdout_conflict | needs_human |
    retry | failed. ``score`` is the validator's own, kept as given whatever else failed."""

    route: str
    reason: str
    score: float
    verdict: str
    gates: list[GateResult]
    fix_attempts: int
    not_observable: list[str] = Field(default_factory=list)
    rule: str = ""  # the rule that decided the route, as its comment cites it


class Validation(Routing):
    """A decided validation: its routing, the validator's verdict, the comment that said so
    and what the next attempt may learn from it (never a hold-out journey's content)."""

    implement_run: str
    pr: int
    validator: Verdict | None = None
    journeys_passed: bool = True
    candidate: str | None = None
    production_sha: str | None = None
    conflict: str | None = None
    tests_exit_code: int | None = None
    tests_output: str = ""
    comment: str = ""
    holdout: str | None = None  # the hold-out's digest it was judged by (never its content)


class Landing(Artifact):
    """A change the factory merged: production's ``branch`` now holds ``merge_sha``, whose
    tree is exactly the tree the candidate's tests and journeys passed on."""

    issue: int
    pr: int
    head: str
    branch: str
    merge_sha: str
    tested_tree: str
    landed_tree: str
    tested_by: str | None = None  # the run whose tests passed on the tree: this, or one reused


class Smoke(HoldoutRun):
    """The hold-out on production after a merge (``sha``: the merge); a failure was
    reverted by ``reverted`` (or production had moved on and was left alone: the sha
    it moved to)."""

    reverted: str | None = None


class Citation(Artifact):
    """One piece of evidence of a lesson (``harness.lessons``): where it was recorded (a run's
    step, or an audit-trail event), what it is about (``gate:…``, ``file:…``, ``finding:…``,
    ``rule:…``, ``decision:…``), the file, line and rule it names, its words as recorded, and
    why it no longer holds on production (``stale``)."""

    ref: str
    issue: int | None = None
    source: str  # review | gate | validation | maintainer
    about: str
    file: str | None = None
    line: int | None = None
    rule: str | None = None
    words: str = ""
    stale: str | None = None


class Lesson(Artifact):
    """Citations about one thing; ``independent``: distinct issues among the live ones."""

    about: str
    citations: list[Citation]
    independent: int = 0
    stale: bool = False
    proposal: str | None = None  # open | merged | closed: its newest PR; no edit: the learner's
    proposable: bool = False


class GovernanceEdit(Artifact):
    """The learner's ``submit_governance_edit``: one small replacement in one governance file."""

    file: Literal["factory_rules.md", "CLAUDE.md"]
    old_text: str
    new_text: str
    title: str
    why: str


class LessonBranch(Artifact):
    """``lessons.branch``: the learner's edit committed at ``head`` on the lesson's own
    ``branch``."""

    branch: str
    head: str


class Rehearsal(Artifact):
    """``factory backtest`` of a proposal on production's governance, then on its branch's:
    the second's rows (``changed``: the decisions that moved) and each one's summary."""

    backtests: list[str]
    cases: list[dict[str, object]] = Field(default_factory=list)
    before: dict[str, object] = Field(default_factory=dict)
    after: dict[str, object] = Field(default_factory=dict)
    stopped: str | None = None
    few: str | None = None  # fewer past cases touch the lesson's cause than lessons.cases


class Proposal(Artifact):
    """``lessons.open_pr``: a lesson's edit on ``branch``, pull request ``pr``, for the live
    citations ``cited``; the factory never merges it."""

    about: str
    cited: list[str]
    branch: str
    pr: int
    rehearsal: Rehearsal
    base: str = ""  # the edit's commit is ``head``, made on production's ``base``
    head: str = ""


def _kinds(cls: type[Artifact]) -> list[type[Artifact]]:
    return [cls, *(k for sub in cls.__subclasses__() for k in _kinds(sub))]


# every record type of this module by name, as a step's ``steps.artifact`` names it
ARTIFACTS: Mapping[str, type[Artifact]] = MappingProxyType(
    {k.__name__: k for k in _kinds(Artifact)[1:]}
)

# the agents' output tools whose input is a record of its own
OUTPUT_TOOLS: Mapping[str, type[Artifact]] = MappingProxyType(
    {
        "submit_triage": Judgement,
        "submit_plan": Plan,
        "finish": Implemented,
        "submit_review": Review,
        "submit_governance_edit": GovernanceEdit,
        "submit_findings": Audited,
    }
)


A = TypeVar("A", bound=Artifact)


class RunRecords:
    """What a run's steps recorded, read by the type each was recorded as: a succeeded step's
    record and a failed step's typed evidence, in order (one that no longer reads as its type
    is left out). Reports and pages read a run through it, never a step by its id."""

    def __init__(self, steps: Iterable[StepRecord]) -> None:
        self.found: list[tuple[StepRecord, Artifact]] = []
        for step in steps:
            kind = ARTIFACTS.get(step.artifact or "")
            if kind is None or step.status not in ("succeeded", "failed"):
                continue
            try:
                self.found.append((step, kind.from_outputs(step.outputs)))
            except ValidationError:
                continue

    def every(self, kind: type[A]) -> list[tuple[StepRecord, A]]:
        """Each ``kind`` (its subclasses too) with the step that recorded it, oldest first."""
        return [(step, found) for step, found in self.found if isinstance(found, kind)]

    def newest(self, kind: type[A]) -> A | None:
        found = self.every(kind)
        return found[-1][1] if found else None

    def tested(self) -> list[Tested]:
        """Every test run the run's steps recorded (the whole suite or chosen tests)."""
        found: list[Tested] = []
        for _, a in self.found:
            held = [a.tests, a.tests_before] if isinstance(a, HoldoutRun) else [a]
            found += [t for t in held if isinstance(t, Tested)]
        return found

    def pr(self) -> int | None:
        """The pull request the run worked on (opened, validated or merged)."""
        kinds = (PrCandidate, ValidationTarget, Validation, Landing)
        return next((a.pr for _, a in reversed(self.found) if isinstance(a, kinds)), None)

    def gates(self) -> list[GateResult]:
        """The newest gates the run computed (implement's, or validation's)."""
        kinds = (GateReport, PrCandidate, Routing)
        found = [a.gates for _, a in self.found if isinstance(a, kinds) and a.gates]
        return found[-1] if found else []

    def judged(self) -> list[tuple[StepRecord, IssueSpec]]:
        """Triage's decisions the run recorded itself (an implement run's ``Assignment`` holds
        one as the spec it works from: not a decision of that run's)."""
        return [(s, a) for s, a in self.every(IssueSpec) if not isinstance(a, Assignment)]

    def decision(self) -> str | None:
        """Validation's route, else triage's decision."""
        routed, judged = self.newest(Routing), self.judged()
        return routed.route if routed else judged[-1][1].decision if judged else None


@dataclass(frozen=True)
class Produced(Generic[A]):
    """An artifact and the step-only outputs persisted beside it (e.g. a comment's id); an
    action returning one says which record: ``-> Produced[IssueSpec]``."""

    artifact: A
    extra: dict[str, object] = field(default_factory=dict)

    def outputs(self) -> dict[str, object]:
        return {**self.extra, **self.artifact.model_dump(mode="json")}
