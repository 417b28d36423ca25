"""Hold-out journey files (docs/configuration.md, "Hold-out journeys"): YAML steps run
deterministically in a browser."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from harness.config.yamlload import FileModel, load_model
from harness.errors import ConfigError, ConfigErrors


class Fill(FileModel):
    label: str | None = None
    selector: str | None = None
    value: str

    @model_validator(mode="after")
    def _target(self) -> Fill:
        if (self.label is None) == (self.selector is None):
            raise ValueError("give exactly one of label or selector")
        return self


class Click(FileModel):
    role: str | None = None
    name: str | None = None
    text: str | None = None
    selector: str | None = None

    @model_validator(mode="after")
    def _target(self) -> Click:
        ways = [self.role is not None, self.text is not None, self.selector is not None]
        if sum(ways) != 1:
            raise ValueError("give exactly one of role (with name), text or selector")
        if self.name is not None and self.role is None:
            raise ValueError("name goes with role")
        return self


class Text(FileModel):
    """A text looked for as the page shows it (CSS's ``text-transform`` applied) or as it is
    written; with ``exact``, only as the page shows it."""

    text: str
    exact: bool = False


class WaitFor(FileModel):
    text: str | None = None
    selector: str | None = None
    timeout_ms: int = Field(default=5000, gt=0, le=60_000)
    exact: bool = False


class Step(FileModel):
    goto: str | None = None
    fill: Fill | None = None
    click: Click | None = None
    press: str | None = None
    expect_text: str | Text | None = None
    expect_no_text: str | Text | None = None
    expect_url: str | None = None
    wait_for: WaitFor | None = None

    @model_validator(mode="after")
    def _one(self) -> Step:
        set_keys = [k for k, v in self.__dict__.items() if v is not None]
        if len(set_keys) != 1:
            raise ValueError(
                "each step has exactly one action (goto, fill, click, press, expect_…)"
            )
        for key in ("goto", "expect_url"):
            value = getattr(self, key)
            if value is not None and not value.startswith("/"):
                raise ValueError(
                    f"{key}: must be a path on the app (starting with /), not {value!r}"
                )
        return self

    @property
    def action(self) -> str:
        return next(k for k, v in self.__dict__.items() if v is not None)


class Journey(FileModel):
    name: str = Field(min_length=1)
    steps: list[Step] = Field(min_length=1)


def load_journey(path: Path) -> Journey:
    file = f"journeys/{path.name}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, "(file)", f"unreadable: {exc}") from exc
    return load_model(Journey, text, file, "must be a mapping with name and steps")


def journey_files(holdout_dir: Path) -> list[Path]:
    """The hold-out's journey files, ``journeys/*.yaml`` (or ``.yml``), sorted."""
    folder = holdout_dir / "journeys"
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []


def load_journeys(holdout_dir: Path) -> list[Journey]:
    """Every journey file (``journey_files``); all problems reported together."""
    folder = holdout_dir / "journeys"
    files = journey_files(holdout_dir)
    if not files:
        raise ConfigError(str(folder), "(folder)", "no journey files (*.yaml) in the hold-out")
    journeys: list[Journey] = []
    problems: list[ConfigError] = []
    for path in files:
        try:
            journeys.append(load_journey(path))
        except ConfigErrors as exc:
            problems += exc.problems
    if problems:
        raise ConfigErrors(problems)
    return journeys
