"""``factory check`` on the configured models: ids this installation cannot know are errors,
deprecated ones a warning naming their end of life, and thinking or effort settings a
model refuses are errors (the API would answer each of those calls with a 400)."""

from __future__ import annotations

from harness.config.models import CONFIG_FILE, FactoryConfig, Models
from harness.errors import ConfigError
from harness.model.catalog import accepts, end_of_life, is_known

ROLES = tuple(Models.model_fields)


def model_problems(config: FactoryConfig) -> tuple[list[ConfigError], list[str]]:
    """(errors, warnings) about the models ``config`` names."""
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
