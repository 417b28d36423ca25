"""Pydantic models of factory.yaml and factory_rules.md's front matter (docs/configuration.md)."""

from __future__ import annotations

import os
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from harness.checked import Evolving
from harness.config.network import AllowedHost
from harness.globs import glob_problem, matching
from harness.kinds import REVERT, is_revert
from harness.paths import shipped_yaml

GOVERNANCE_FILES = ("mission.md", "factory_rules.md", "CLAUDE.md")
CONFIG_FILE = "factory.yaml"
_BRANCH = re.compile(
    r"^(?!/)(?!.*//)(?!.*\.\.)(?!.*@\{)(?!.*\.lock$)[A-Za-z0-9._/-]{1,200}(?<!/)(?<!\.)$"
)


class Strict(Evolving):
    """Read from a file a maintainer edits: unknown keys, coerced types ("4" for 4, "yes"
    for true) and infinite or NaN numbers are errors, never silently accepted."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, defer_build=True)


# A section left out of a file: ``{}``, validated by the validator of the model that holds it
# (a default factory would build the section's own validator, one per section, per process).
SECTION: Any = Field(default={}, validate_default=True)


def _matches(rx: re.Pattern[str], form: str) -> AfterValidator:
    def check(value: str) -> str:
        if not rx.match(value):
            raise ValueError(f"{value!r} is not {form}")
        return value

    return AfterValidator(check)


def _holds(test: Callable[[str], object], problem: str) -> AfterValidator:
    """A text's rule: ``problem`` when ``test`` of the text is false."""

    def check(value: str) -> str:
        if not test(value):
            raise ValueError(problem)
        return value

    return AfterValidator(check)


Repository = Annotated[
    str, _matches(re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"), "of the form owner/name")
]
ModelId = Annotated[
    str, _matches(re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$"), "a model id")
]


def _glob(pattern: str) -> str:
    problem = glob_problem(pattern)
    if problem:
        raise ValueError(f"bad glob: {problem}")
    return pattern


Glob = Annotated[str, AfterValidator(_glob)]
Globs = list[Glob]


class GitHubSettings(Strict):
    repository: Repository | None = None  # None: $GITHUB_REPOSITORY
    bot_login: str | None = Field(default=None, min_length=1)  # None: the token's user
    # other logins the factory writes as (a GitHub App behind FACTORY_WRITE_TOKEN, say)
    own_logins: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    write_interval_s: float = Field(default=1.0, ge=0, le=60)  # GitHub asks for >= 1 s
    max_wait_s: float = Field(default=60.0, ge=0, le=3600)  # longer rate-limit waits defer
    # the share of the rate limit left at a run's start that the run may spend
    max_request_share: float = Field(default=0.5, gt=0, le=1)

    @property
    def repository_in_use(self) -> str:
        """``repository``, else ``$GITHUB_REPOSITORY`` (GitHub Actions sets it); "" if none."""
        return self.repository or os.environ.get("GITHUB_REPOSITORY", "").strip()


def _shipped_globs(key: str) -> Callable[[], list[str]]:
    """The default of a list of globs kept as data (``workflows/config/globs.yaml``): a copy
    of its own for each model."""
    return lambda: list(shipped_yaml("config", "globs.yaml")[key])


def start_placeholders(command: str) -> str:
    """``commands.start`` is filled in with ``str.format(port=…)``: ``{port}`` is its only
    placeholder and a literal brace is written twice. Anything else (``{}``, ``{0}``,
    ``{name}``, a lone brace) would fail only when the app is started, so it is refused here.
    ``setup`` and ``test`` are run as written: their braces are the shell's."""
    literal = "write {{ or }} for a literal brace"
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(command)]
    except ValueError as exc:  # "Single '{' encountered in format string", ...
        raise ValueError(f"an unbalanced brace ({exc}); {literal}") from None
    for name, spec, conv in fields:
        if name is not None and (name, spec, conv) != ("port", "", None):
            shown = "{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
            raise ValueError(f"{shown} is not a placeholder: {{port}} is the only one; {literal}")
    if not any(name == "port" for name, _, _ in fields):
        raise ValueError("must contain {port}, where the factory puts a free port")
    return command


class Commands(Strict):
    setup: str | None = None
    test: Annotated[str, _holds(str.strip, "must not be blank")] = Field(min_length=1)
    # chosen tests alone: {tests} is where their paths or ids go (docs/testing.md); unset,
    # it is made from the runner commands.test names, or the whole suite runs
    test_files: (
        Annotated[
            str,
            _holds(
                lambda command: "{tests}" in command,
                "must contain {tests}, where the factory puts the tests to run",
            ),
        ]
        | None
    ) = None
    start: Annotated[str, AfterValidator(start_placeholders)] | None = None
    audit: str | None = Field(default=None, min_length=1)  # an analyser of the project's own
    ready_path: Annotated[
        str, _holds(lambda path: path.startswith("/"), "must be a path starting with /")
    ] = "/"
    test_timeout_s: float = Field(default=900, gt=0)  # commands.test, and the run_tests tool
    command_timeout_s: float = Field(default=120, gt=0)  # one run_command of an agent
    setup_timeout_s: float = Field(default=900, gt=0)
    # commands.start answering on ready_path: sized for a loaded CI runner; a start that
    # does not answer in it is inconclusive (tried again later), never a verdict
    ready_timeout_s: float = Field(default=180, gt=0)
    # files commands.setup reads: a change touching one is set up again, without network
    setup_inputs: list[str] = Field(default_factory=_shipped_globs("setup_inputs"))


Role = Literal["triage", "planner", "implementer", "reviewer", "validator", "learner", "auditor"]
# the agent roles, one list: a workflow's ``agent:`` names one, ``Models`` gives each its model
ROLES: tuple[Role, ...] = get_args(Role)
Escalated = Literal["planner", "implementer", "reviewer"]  # the roles of an attempt
ESCALATED: tuple[Escalated, ...] = get_args(Escalated)


class Models(Strict):
    """The model id each role calls (any Anthropic model id). The reviewer is from another
    tier than the implementer, so the change is read by a different model."""

    triage: ModelId = "claude-haiku-5-5"
    planner: ModelId = "claude-sonnet-5-5"
    implementer: ModelId = "claude-sonnet-5-5"
    reviewer: ModelId = "claude-opus-5-5"
    validator: ModelId = "claude-sonnet-5-5"
    learner: ModelId = "claude-opus-5-5"  # writes a governance edit from a lesson
    auditor: ModelId = "claude-sonnet-5-5"  # reads the repository for what analysers miss
    # role -> its tiers, lowest first: each attempt after a refused one runs one tier up
    escalate: dict[Escalated, list[ModelId]] = Field(default_factory=dict)


Thinking = Literal["off", "adaptive"]
Effort = Literal["low", "medium", "high", "xhigh", "max"]


# a setting per role; a role left out keeps its model's own default. ``thinking``: ``adaptive``
# (the model decides when and how much to think) or ``off``; ``effort``: how much effort the
# model puts into each answer
RoleThinking = dict[Role, Thinking]
RoleEffort = dict[Role, Effort]


@dataclass(frozen=True)
class RoleModel:
    """What one role's calls ask for: the model id, and thinking and effort if set."""

    role: str
    model: str
    thinking: str | None = None
    effort: str | None = None


class SecondReview(Strict):
    """``review.second``: another reviewer, with its own model and a lens prompt
    (``validators/prompts/lenses/<lens>.md.j2``); both must approve, else a person decides."""

    model: ModelId
    lens: str = Field(default="security", pattern=r"^[a-z][a-z0-9_-]{0,39}$")


class SecondLook(Strict):
    """``validation.second``: the model that judges each criterion again, from the
    observations the harness recorded (never the live page, never the first verdict)."""

    model: ModelId


class ReviewSettings(Strict):
    second: SecondReview | None = None


class Provider(Strict):
    type: Literal["auto", "anthropic", "scripted", "replay"] = "auto"
    script: str | None = None
    record: str | None = None
    replay: str | None = None
    max_retries: int = Field(default=3, ge=0, le=10)
    max_retry_wait_s: float = Field(default=60.0, ge=0, le=3600)

    @property
    def rehearses(self) -> bool:
        """Whether its answers may come from a file, not a model: scripted or replayed, or
        auto with a script (which answers wherever no key is set)."""
        return self.type in ("scripted", "replay") or (self.type == "auto" and bool(self.script))

    @model_validator(mode="after")
    def _replay_needs_folder(self) -> Provider:
        if self.type == "replay" and not self.replay:
            raise ValueError("replay: type replay needs a folder of recordings here")
        return self


class Validation(Strict):
    """How journeys keep their evidence: a failing journey always keeps a full-page
    screenshot; a passing one keeps its final page text and URL, and a screenshot too with
    ``screenshots: all`` (about a tenth of a short journey's time)."""

    screenshots: Literal["failures", "all"] = "failures"
    # CI still running on the PR head (forge: github): wait this long in all, asking every
    # ci_poll_s, before the CI gate is judged on what it shows then
    ci_wait_s: float = Field(default=900.0, ge=0, le=86_400)
    ci_poll_s: float = Field(default=15.0, gt=0, le=3600)
    # Files the running app cannot show (protected_paths' glob dialect). When production moves
    # after a change was validated, the candidate is rebuilt and its tests and journeys run
    # again; the validator's verdict is kept only if the two candidates differ in these files
    # alone, and asked again otherwise.
    unseen_paths: Globs = Field(default_factory=_shipped_globs("unseen_paths"))
    # Checks of one commit (its tests, each journey, the validator) that run side by side,
    # each on its own copy of the app; unset: one per CPU
    parallel_checks: int | None = Field(default=None, ge=1, le=64)
    # A second look (docs/configuration.md): another model judges each criterion again from
    # the validator's recorded observations alone; a disagreement goes to a person
    second: SecondLook | None = None


class Gates(Strict):
    """Limits of the size gate (bytes): what a change adds in all (new files' sizes plus the
    growth of changed ones) and the size of any one added or changed file."""

    max_added_bytes: int = Field(default=5_000_000, gt=0)
    max_file_bytes: int = Field(default=1_000_000, gt=0)


class Network(Strict):
    """``allow``: host names (``pypi.org``), ``*.domain`` patterns (the domain and every name
    under it) and ``host:port`` (else port 443) that ``commands.setup`` may reach through the
    egress proxy, on production's tree only; unset: the package registries of the project's
    manifests (``workflows/egress/registries.yaml``); ``[]``: none."""

    allow: list[AllowedHost] | None = Field(default=None, max_length=200)


class Backtest(Strict):
    """``factory backtest``: which files of a fix are its tests (hidden from every agent and
    the validator, then used to grade the rehearsal), and whether earned trust may start
    from the newest backtest (off unless a maintainer turns it on: docs/trust.md)."""

    # a fix's files that are its tests: by default under a tests folder at any depth, test
    # modules and specs wherever they are
    test_paths: Globs = Field(default_factory=_shipped_globs("test_paths"))
    counts_for_trust: bool = False


class Mcp(Strict):
    """``factory mcp`` (docs/mcp.md): approve and reject are its tools only when a
    maintainer commits ``decisions: true``; ``author``: the login an issue filed through it
    is written by, which no ``trusted_authors`` entry ever matches (``Settings.trusts``)."""

    decisions: bool = False
    author: str = Field(default="mcp", min_length=1, max_length=100, pattern=r"^\S+$")


class Health(Strict):
    """Production's health (docs/heal.md): after this many flakes of one check, one issue; a
    tree recorded green is checked again once its record is this many hours old."""

    flaky_issue_after: int = Field(default=3, ge=1, le=1000)
    green_for_h: float = Field(default=24, gt=0)


class Audit(Strict):
    """``factory audit`` over the whole tree: what no analyser reads there (protected_paths'
    glob dialect; unset: what ``workflows/analysers.yaml`` lists under ``skip``)."""

    skip: Globs | None = None


class FactoryConfig(Strict):
    forge: Literal["local", "github"] = "local"
    github: GitHubSettings = SECTION
    production_branch: Annotated[str, _matches(_BRANCH, "a valid branch name")] = "main"
    commands: Commands
    holdout: str | None = Field(default=None, min_length=1)  # None: ../<repo dir name>-holdout
    max_parallel: int = Field(default=4, ge=1, le=32)
    models: Models = SECTION
    thinking: RoleThinking = Field(default_factory=dict)
    effort: RoleEffort = Field(default_factory=dict)
    provider: Provider = SECTION
    validation: Validation = SECTION
    gates: Gates = SECTION
    network: Network = SECTION
    backtest: Backtest = SECTION
    mcp: Mcp = SECTION
    review: ReviewSettings = SECTION
    health: Health = SECTION
    audit: Audit = SECTION

    def rehearsal_trust(self, rules: Rules) -> list[str]:
        """The rehearsal's trust (``factory check`` refuses it where CI workflows exist,
        ``init --from-rehearsal`` removes it): the kinds that start at auto while the
        provider rehearses (``Provider.rehearses``)."""
        trust = rules.trust if self.provider.rehearses else {}
        return [kind for kind, rule in trust.items() if rule.start == "auto"]

    def role_model(self, role: str, tier: int = 0) -> RoleModel:
        """The model, thinking and effort one role (``triage`` … ``validator``) calls with;
        ``tier``: how many refused attempts came before (``models.escalate``)."""
        escalated = self.models.escalate.get(role)  # type: ignore[call-overload]
        tiers = escalated or [str(getattr(self.models, role))]
        return RoleModel(
            role=role,
            model=tiers[min(tier, len(tiers) - 1)],
            thinking=self.thinking.get(role),  # type: ignore[call-overload]
            effort=self.effort.get(role),  # type: ignore[call-overload]
        )


class AutoMerge(Strict):
    enabled: bool = True
    min_score: float = Field(default=0.9, ge=0, le=1)
    require_ci: bool = True


class Budgets(Strict):
    per_issue_usd: float = Field(default=2.0, gt=0)
    per_run_usd: float = Field(default=20.0, gt=0)
    per_day_usd: float = Field(default=50.0, gt=0)
    max_heal_attempts: int = Field(default=3, ge=0, le=20)  # heal's chain of fixes (docs/heal.md)


class TriageRules(Strict):
    max_issues_per_run: int = Field(default=10, ge=1, le=1000)
    max_issues_per_author_per_day: int = Field(default=3, ge=1)
    trusted_authors: list[str] = Field(default_factory=list)
    max_body_chars: int = Field(default=20_000, ge=100)
    max_title_chars: int = Field(default=256, ge=10)
    untrusted_requires_label: bool = False


class LessonRules(Strict):
    """``factory lessons propose``: at most ``max_proposals`` PRs a run, each rehearsed on every
    past case its cause touches (fewer than ``cases``: it says so), the whole run within
    ``max_usd`` (docs/learning.md)."""

    max_proposals: int = Field(default=1, ge=0, le=20)
    cases: int = Field(default=3, ge=0, le=50)
    max_usd: float = Field(default=10.0, ge=0)


class AuditRules(Strict):
    """``factory audit``: at most ``max_issues`` new issues a run, within ``max_usd``."""

    max_issues: int = Field(default=3, ge=0, le=50)
    max_usd: float = Field(default=2.0, ge=0)


ResetOn = Literal["regression", "revert"]
_TRUST_KEY = re.compile(r"^(default|kind:[a-z][a-z0-9_-]{0,39})$")


class TrustRule(Strict):
    """Earned trust for one kind of change (``trust:`` in factory_rules.md): with ``start:
    review`` a change that passed every gate waits for a person until ``earn_after`` changes
    of its kind were approved, merged and stayed green; ``reset_on`` starts the count over."""

    start: Literal["review", "auto"] = "review"
    earn_after: int = Field(default=3, ge=0, le=1000)
    reset_on: list[ResetOn] = Field(default_factory=lambda: list[ResetOn](["regression", "revert"]))


class Security(Strict):
    """The security gate: what a change may add before a person looks (docs/gates.md)."""

    severity: Literal["low", "medium", "high"] = "high"
    allow_dependencies: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)


class Rules(Strict):
    """The front matter of factory_rules.md; a file without front matter gets these defaults,
    which are the documented ones (the governance files are protected either way)."""

    auto_merge: AutoMerge = SECTION
    review_band: float = Field(default=0.7, ge=0, le=1)
    max_changed_lines: int = Field(default=500, gt=0)
    max_fix_attempts: int = Field(default=2, ge=0, le=10)
    # a change production moved under (a text conflict) is rebased, spending no fix attempt
    max_rebases: int = Field(default=3, ge=0, le=10)
    protected_paths: list[Glob] = Field(
        default_factory=lambda: [*GOVERNANCE_FILES, CONFIG_FILE, ".github/**", ".factory/**"]
    )
    budgets: Budgets = SECTION
    triage: TriageRules = SECTION
    security: Security = SECTION
    # kind:<name> or default -> its rule; absent: every kind merges by itself (as before)
    trust: dict[str, TrustRule] = Field(default_factory=dict)
    lessons: LessonRules = SECTION
    audit: AuditRules = SECTION

    @field_validator("trust")
    @classmethod
    def _trust_keys(cls, value: dict[str, TrustRule]) -> dict[str, TrustRule]:
        bad = [k for k in value if not _TRUST_KEY.match(k)]
        if bad:
            raise ValueError(f"{bad[0]!r}: a key is 'default' or 'kind:<name>' (e.g. kind:bug)")
        return value

    def workflow_usd(self, workflow: str) -> float | None:
        """A workflow's own spending cap (``lessons``, ``audit``), beside the budgets."""
        return {"lessons": self.lessons.max_usd, "audit": self.audit.max_usd}.get(workflow)

    def trust_for(self, kind: str | None) -> TrustRule | None:
        """The rule for a kind of change (its own, else ``default``); None: no trust rule. A
        revert restores a tested tree: only its own rule (``kind:revert``) holds it back."""
        if is_revert(kind):
            return self.trust.get(f"kind:{REVERT}")
        return self.trust.get(f"kind:{kind}") or self.trust.get("default")

    @field_validator("protected_paths")
    @classmethod
    def _governance_protected(cls, value: list[str]) -> list[str]:
        missing = [f for f in (*GOVERNANCE_FILES, CONFIG_FILE) if not matching(f, value)]
        if missing:
            raise ValueError(f"must protect the governance files; missing {', '.join(missing)}")
        return value

    @model_validator(mode="after")
    def _band(self) -> Rules:
        if self.review_band > self.auto_merge.min_score:
            raise ValueError(
                f"review_band: {self.review_band} is above auto_merge.min_score "
                f"{self.auto_merge.min_score}"
            )
        return self
