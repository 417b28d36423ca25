"""``factory check`` on the configured models: ids this installation cannot know are errors,
deprecated ones a warning naming their end of life, and thinking or effort settings a
model refuses are errors (the API would answer each of those calls with a 400).

With an API key, the API's own model list (``GET /v1/models``) is asked too: a model it
lists as retired is an error, one it does not list for this key a warning, and one it
lists as deprecated a warning with its retirement date."""

from __future__ import annotations

from harness.config.models import CONFIG_FILE, FactoryConfig, Models
from harness.errors import ConfigError
from harness.model.catalog import Listing, accepts, end_of_life, is_known, listed

ROLES = tuple(Models.model_fields)


def model_problems(
    config: FactoryConfig, listings: dict[str, Listing] | None = None
) -> tuple[list[ConfigError], list[str]]:
    """(errors, warnings) about the models ``config`` names; ``listings``: the API's list."""
    errors: list[ConfigError] = []
    warnings: list[str] = []
    defaults = Models()
    for role in ROLES:
        choice = config.role_model(role)
        model = choice.model
        if not is_known(model):
            errors.append(
                ConfigError(
                    CONFIG_FILE,
                    f"models.{role}",
                    f"{model!r} is not a model id this factory knows (the anthropic SDK's "
                    "list and workflows/prices.yaml); check the spelling, or upgrade the SDK "
                    "for a newer model",
                )
            )
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
        can = accepts(model)
        if choice.thinking == "off" and can.thinking_off is None:
            errors.append(
                ConfigError(
                    CONFIG_FILE,
                    f"thinking.{role}",
                    f"{model} cannot turn thinking off; use adaptive or leave it unset",
                )
            )
        if choice.effort is not None and not can.effort:
            errors.append(
                ConfigError(
                    CONFIG_FILE, f"effort.{role}", f"{model} does not accept an effort setting"
                )
            )
    return errors, warnings


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
