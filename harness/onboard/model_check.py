"""``factory check`` on the configured models: ids this installation cannot know are errors,
deprecated ones a warning naming their end of life, and thinking or effort settings a
model refuses are errors (the API would answer each of those calls with a 400); so is an
output limit (``max_tokens``) with no room for the thinking of a model that will think.

With an API key, the API's own model list (``GET /v1/models``) is asked too: a model it
lists as retired is an error, one it does not list for this key a warning, and one it
lists as deprecated a warning with its retirement date."""

from __future__ import annotations

from dataclasses import dataclass

from harness.config.models import CONFIG_FILE, ROLES, FactoryConfig, Models, RoleModel
from harness.errors import ConfigError
from harness.model.catalog import (
    EFFORTS,
    Listing,
    accepts,
    end_of_life,
    is_known,
    listed,
    thinking_floor,
)


def model_problems(
    config: FactoryConfig, listings: dict[str, Listing] | None
) -> tuple[list[ConfigError], list[str]]:
    """(errors, warnings) about the models ``config`` names; ``listings``: the API's list."""
    errors: list[ConfigError] = []
    warnings: list[str] = []
    defaults = Models()
    for role in ROLES:
        choice = config.role_model(role)
        model = choice.model
        if not is_known(model):
            unknown = (
                f"{model!r} is not a model id this factory knows (the anthropic SDK's "
                "list and workflows/prices.yaml); check the spelling, or upgrade the SDK "
                "for a newer model"
            )
            errors.append(ConfigError(CONFIG_FILE, f"models.{role}", unknown))
            continue
        if listings is not None:
            problem = _listing_problem(role, model, listed(model, listings))
            if isinstance(problem, ConfigError):
                errors.append(problem)
                continue
            if problem:
                warnings.append(problem)
        eol = end_of_life(model)
        if eol is not None:
            warnings.append(
                f"{CONFIG_FILE}: models.{role}: {model} is deprecated; its end of life is "
                f"{eol.isoformat()}, after which its calls fail (a current choice: "
                f"{getattr(defaults, role)})"
            )
        errors += _setting_problems(choice)
    return errors, warnings


def _setting_problems(choice: RoleModel) -> list[ConfigError]:
    """A role's thinking and effort settings its model refuses (each a 400)."""
    role, model, can = choice.role, choice.model, accepts(choice.model)
    problems: list[ConfigError] = []
    if choice.thinking == "off" and can.thinking_off is None:
        why = f"{model} cannot turn thinking off; use adaptive or leave it unset"
        problems.append(ConfigError(CONFIG_FILE, f"thinking.{role}", why))
    if choice.effort is not None and not can.effort:
        why = f"{model} does not accept an effort setting"
        problems.append(ConfigError(CONFIG_FILE, f"effort.{role}", why))
    effort = choice.effort or can.default_effort
    if choice.thinking == "off" and can.off_up_to and _above(effort, can.off_up_to):
        why = f"{model} turns thinking off only at effort {can.off_up_to} or below, not {effort}"
        problems.append(ConfigError(CONFIG_FILE, f"thinking.{role}", why))
    return problems


def _above(effort: str, limit: str) -> bool:
    return EFFORTS.index(effort) > EFFORTS.index(limit)


@dataclass(frozen=True)
class OutputLimit:
    """Where a role's calls get their output limit: an agent step's ``max_tokens`` in a
    workflow, or the sealed validator's in its definition."""

    source: str  # the file, as factory check names it
    where: str  # the key in it
    role: str
    max_tokens: int


def output_problems(config: FactoryConfig, limits: list[OutputLimit]) -> list[ConfigError]:
    """Output limits too small for a model that thinks: its thinking counts toward
    ``max_tokens`` (the API's rule), so each needs room for the thinking the factory sizes at
    its effort and for the answer after it (``workflows/models.yaml``)."""
    problems: list[ConfigError] = []
    for limit in limits:
        choice = config.role_model(limit.role)
        can = accepts(choice.model)
        if not is_known(choice.model) or not can.thinks(choice.thinking):
            continue
        effort = choice.effort or can.default_effort
        room, answer = thinking_floor(effort)
        if limit.max_tokens >= room + answer:
            continue
        why = "it cannot turn thinking off" if can.thinking_off is None else "it thinks"
        shipped = limit.source.startswith(("workflows/", "validators/"))
        how = " in an override under .factory/, or choose a lower effort" if shipped else ""
        few = (
            f"{limit.max_tokens:,} output tokens are too few for the {limit.role}'s model "
            f"{choice.model} ({why}, at effort {effort}): its thinking counts toward "
            f"max_tokens, sized at {room:,} tokens, with {answer:,} for the answer after "
            f"it; set at least {room + answer:,}{how}"
        )
        problems.append(ConfigError(limit.source, limit.where, few))
    return problems


def _listing_problem(role: str, model: str, entry: Listing | None) -> ConfigError | str | None:
    where = f"models.{role}"
    if entry is None:
        return f"{CONFIG_FILE}: {where}: {model} is not in the API's model list for this key"
    if entry.lifecycle == "retired":
        return ConfigError(CONFIG_FILE, where, f"{model} is retired: its calls fail")
    if entry.lifecycle == "deprecated" and end_of_life(model) is None:
        when = f"; it retires on {entry.retires_at.isoformat()}" if entry.retires_at else ""
        return f"{CONFIG_FILE}: {where}: the API lists {model} as deprecated{when}"
    return None
