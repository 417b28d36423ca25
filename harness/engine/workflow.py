"""Workflow definitions: YAML files of steps, validated strictly. A step is exactly one of
``action`` (a built-in deterministic action), ``agent`` (a model turn loop with declared tools
and a structured output tool), ``run`` (a shell command in the worktree sandbox) or
``workflow`` (a child workflow: one run, its inputs the record of the step ``inputs`` names,
or one run per issue of the ``Queue`` the step ``each`` names); ``when`` is a Jinja
expression over the run's context; ``on_fail`` / ``on`` loop back to an earlier step at most
``max`` times."""

from __future__ import annotations

import re
from functools import lru_cache

from pydantic import Field, ValidationError, model_validator

from harness.config.errors import dotted
from harness.config.yamlload import FileModel, load_yaml
from harness.errors import ConfigError, ConfigErrors

_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
KINDS = ("action", "agent", "run", "workflow")


class Retry(FileModel):
    """Loop back to ``retry_from`` at most ``max`` times (an int or a template like
    ``"{{ rules.max_fix_attempts }}"``)."""

    retry_from: str
    max: int | str


class Step(FileModel):
    id: str
    action: str | None = None
    agent: str | None = None
    run: str | None = None
    workflow: str | None = None
    when: str | None = None
    # agent steps
    prompt: str | None = None
    task: str | None = None
    tools: list[str] = Field(default_factory=list)
    output: str | None = None
    max_turns: int = Field(default=20, ge=1, le=200)
    max_tokens: int = Field(default=4096, ge=256, le=21000)
    context: str = "shared"
    model: str | None = None  # an expression giving the model id (else the role's model)
    # loops
    on_fail: Retry | None = None
    on: dict[str, Retry] = Field(default_factory=dict)
    may_fail: bool = False  # its failure costs its own output only: the run goes on
    # child workflows: the earlier step whose record is the child's inputs; the earlier step
    # whose ``Queue`` gives one child per issue; only the child workflow's runs left unfinished
    # past the step that closes their issue (its ``closes``), finished first
    inputs: str | None = None
    each: str | None = None
    finish: bool = False
    # action parameters and limits
    params: dict[str, str] = Field(default_factory=dict)  # an action's, by name
    timeout_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        kinds = [k for k in KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a step needs exactly one of {', '.join(KINDS)}")
        if not _ID.match(self.id):
            raise ValueError(f"step id {self.id!r} must match {_ID.pattern}")
        if self.agent is not None and (self.prompt is None or self.output is None):
            raise ValueError("an agent step needs prompt and output")
        if self.agent is None and (self.prompt or self.output or self.tools or self.model):
            raise ValueError("prompt, output, tools and model belong to agent steps only")
        if self.workflow is None and (self.inputs or self.each or self.finish):
            raise ValueError("inputs, each and finish belong to workflow steps only")
        if self.context not in ("shared", "fresh"):
            raise ValueError("context must be shared or fresh")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)


class Workflow(FileModel):
    name: str
    description: str = ""
    steps: list[Step]
    on_failure: str | None = None  # an action run once when the run ends failed
    # a workflow about an issue run under the lease, from its first step to its end;
    # ``after``: an action run as such a run ends, whatever became of it
    leased: bool = False
    after: str | None = None
    # the step that closes the run's issue: a run left unfinished past it is finished even
    # when its issue is no longer open (any other such run is ended)
    closes: str | None = None

    @model_validator(mode="after")
    def _ids(self) -> Workflow:
        ids = [s.id for s in self.steps]
        if not ids:
            raise ValueError("a workflow needs at least one step")
        if self.closes is not None and self.closes not in ids:
            raise ValueError(f"closes: {self.closes!r} is not a step")
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate step ids: {', '.join(dupes)}")
        for pos, step in enumerate(self.steps):
            loops = ([step.on_fail] if step.on_fail else []) + list(step.on.values())
            for loop in loops:
                if loop.retry_from not in ids[: pos + 1]:
                    raise ValueError(
                        f"step {step.id}: retry_from {loop.retry_from!r} is not an earlier step"
                    )
        return self

    def index(self, step_id: str) -> int:
        return [s.id for s in self.steps].index(step_id)


@lru_cache(maxsize=64)
def parse_workflow(text: str, source: str) -> Workflow:
    """Parse and validate one workflow file; every problem becomes a ``ConfigError`` (a key
    named twice in a mapping too: ``load_yaml``, on libyaml). Parsed once per process and
    text (a workflow is never changed once parsed)."""
    data = load_yaml(text, source)
    if not isinstance(data, dict):
        raise ConfigErrors([ConfigError(source, "(top)", "must be a mapping with name and steps")])
    for step in data.get("steps") or []:
        if isinstance(step, dict) and True in step:  # YAML 1.1 reads a bare `on:` key as true
            step["on"] = step.pop(True)
    try:
        return Workflow.model_validate(data)
    except ValidationError as exc:
        problems = [
            ConfigError(source, dotted(tuple(err["loc"])), err["msg"].removeprefix("Value error, "))
            for err in exc.errors()
        ]
        raise ConfigErrors(problems) from exc
