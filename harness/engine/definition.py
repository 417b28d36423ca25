"""The validators' definitions (``validators/*.yaml``), read and checked in one place.

A definition is data: the tools its agent gets, its prompt, its limits. An override under
``.factory/validators/<name>.yaml`` is read from production as the governance files were
(``harness.engine.loader.read_override``): an edit reaches runs only once merged, and
``protected_paths`` (``.factory/**``) keeps agents from touching it."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from harness.browser.addressing import Vocabulary
from harness.caches import Memo
from harness.config.errors import validated
from harness.config.yamlload import FileModel, load_yaml
from harness.errors import ConfigError
from harness.model.tools import known_tools
from harness.paths import shipped_text, validators_dir

if TYPE_CHECKING:
    from harness.engine.context import Services

OVERRIDE_DIR = ".factory/validators"
SEALED_VALIDATOR = "sealed_browser"  # validators/sealed_browser.yaml: the one validation runs


class ValidatorDefinition(FileModel):
    """``validators/sealed_browser.yaml``: everything the sealed validator gets."""

    name: str = Field(min_length=1)
    role: Literal["validator"]
    context: Literal["sealed"]  # governance, the issue, its criteria and the app's URL only
    tools: tuple[str, ...] = Field(min_length=1)
    output: Literal["submit_verdict"]  # what the validate workflow reads
    prompt: str  # under validators/ (or .factory/validators/ when overridden)
    max_turns: int = Field(ge=1, le=200)
    # each call's output limit, its thinking included (as an agent step's: at most 21,000,
    # what one call answers without streaming)
    max_tokens: int = Field(default=16384, ge=256, le=21000)
    timeout_s: float = Field(default=900.0, gt=0, le=24 * 3600)
    budget_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    # an invariant, not a setting: the routing only ever lets a verdict lower an outcome
    may_only_lower_score: Literal[True] = True
    # what the harness reads every observation for, in code (the model is never told):
    # text that addresses the validator (tampering: the change goes to a person), a
    # vocabulary per language, and the names of the fields, headers and keys whose values
    # are secrets (masked in every record)
    addressing: dict[str, Vocabulary] = Field(default_factory=dict)
    secret_names: re.Pattern[str] | None = None

    @field_validator("tools")
    @classmethod
    def _browser_tools(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in value if t not in known_tools()]
        if unknown:
            raise ValueError(f"unknown tools {unknown}")
        outside = [t for t in value if not t.startswith(SEALED_TOOL_PREFIX)]
        if outside:
            raise ValueError(f"a sealed validator has browser tools only; not {outside}")
        if len(set(value)) != len(value):
            raise ValueError("a tool is listed twice")
        return value

    @field_validator("prompt")
    @classmethod
    def _relative(cls, value: str) -> str:
        path = PurePosixPath(value)
        if path.is_absolute() or ".." in path.parts or "\\" in value or not value.strip():
            raise ValueError(f"{value!r} must be a path inside validators/")
        return value

    @property
    def template(self) -> str:
        """The prompt's template name (``Templates`` looks in the override folder first)."""
        return f"validators/{self.prompt}"


class ReviewerDefinition(FileModel):
    """``validators/reviewer.yaml``: what the review's prompt is given as ``definition``.
    The review step (``workflows/implement.yaml``) names its prompt, tools and turn limit."""

    name: str = Field(min_length=1)
    role: Literal["reviewer"]
    rubric: tuple[str, ...] = Field(min_length=1)


Definition = ValidatorDefinition | ReviewerDefinition
SEALED_TOOL_PREFIX = "browser_"  # all the seal can offer: it has a browser and nothing else


def parse_validator(text: str, source: str) -> Definition:
    """``text`` as a definition; every problem is a ``ConfigError`` naming ``source``."""
    data = load_yaml(text, source)
    if not isinstance(data, dict):
        raise ConfigError(source, "(top)", "must be a mapping of keys to values")
    model: type[Definition] = (
        ReviewerDefinition if data.get("role") == "reviewer" else ValidatorDefinition
    )
    return validated(model, data, source)


class _Definitions(Memo[Definition]):
    """Definitions read per repository, governance commit and name: a commit never changes,
    so each is parsed once however many runs and steps ask (a definition is frozen)."""


def load_validator(services: Services, name: str) -> Definition:
    """Validator ``name``: ``.factory/validators/<name>.yaml`` on the production branch, else
    the shipped one."""
    from harness.engine.loader import read_override  # the engine's whole loader: not for check

    def parse() -> Definition:
        override = read_override(services, f"validators/{name}.yaml")
        if override is not None:
            return parse_validator(override, f"{OVERRIDE_DIR}/{name}.yaml")
        return parse_validator(shipped_text("validators", name), f"validators/{name}.yaml")

    key = (str(services.repo.path), services.settings.governance.commit, name)
    return services.caches.part(_Definitions).get(key, parse)


def role_definition(services: Services, role: str) -> Definition | None:
    """The definition of ``role`` a template sees (``definition``: rubric, limits), or None
    for a role that has none under ``validators/``."""
    if not (validators_dir() / f"{role}.yaml").is_file():
        return None
    return load_validator(services, role)


def load_sealed(services: Services) -> ValidatorDefinition:
    """The validator validation runs (``SEALED_VALIDATOR``), which must be a sealed one."""
    definition = load_validator(services, SEALED_VALIDATOR)
    if not isinstance(definition, ValidatorDefinition):
        source = f"validators/{SEALED_VALIDATOR}.yaml"
        raise ConfigError(source, "role", "must be validator (a sealed one)")
    return definition
