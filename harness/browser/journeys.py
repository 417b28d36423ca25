"""The hold-out's files: journeys (docs/configuration.md, "Hold-out journeys"), YAML steps
run deterministically in a browser, and learned checks (docs/how-it-works.md, "Learned
checks"), the sealed validator's own actions done again without a model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from harness.config.yamlload import FileModel, load_model
from harness.errors import ConfigError, ConfigErrors, UsageError


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


class Learned(FileModel):
    """A learned check, ``id`` ``<issue>-<criterion>`` (the criterion of that issue it was
    verified for, merged as ``merge``): the sealed validator's recorded ``actions`` up to the
    answer that showed ``quote``; ``adopted`` after two replays on fresh apps of the merge,
    else ``dropped``, until ``retired``, and ``why`` (and ``at``, factory time) since."""

    id: str
    merge: str
    actions: list[tuple[str, Any]] = Field(default_factory=list)  # each tool and its input
    quote: str = ""
    state: Literal["adopted", "dropped", "retired"] = "adopted"
    why: str = ""
    at: str = ""

    @property
    def name(self) -> str:
        from harness.artifacts import LEARNED  # not for ``factory check``: it loads all

        return LEARNED + self.id

    @property
    def changes(self) -> bool:
        """Whether its actions may change the app (``Observation.changes``): then it needs an
        app of its own."""
        from harness.artifacts import Observation

        return any(Observation(tool, given, "").changes for tool, given in self.actions)


HoldoutCheck = Journey | Learned  # what the hold-out runs


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


def learned_checks(holdout_dir: Path, *states: str) -> list[Learned]:
    """The learned checks in ``<holdout>/learned`` (of these ``states``; none: all), by id."""
    found = sorted(holdout_dir.glob("learned/*.yaml"))
    read = [load_model(Learned, p.read_text("utf-8", "replace"), p.name) for p in found]
    return [c for c in read if c.state in (states or (c.state,))]


def learned_check(holdout_dir: Path, check_id: str, *states: str) -> Learned:
    """The learned check ``check_id`` (of these ``states``), or why not (``UsageError``)."""
    for found in learned_checks(holdout_dir, *states):
        if found.id == check_id:
            return found
    kept = " or ".join(states) or "kept"
    raise UsageError(f"{check_id}: no learned check {kept} has that id (factory checks)")


def load_holdout(holdout_dir: Path) -> list[HoldoutCheck]:
    """What the hold-out runs: every journey (``load_journeys``), every adopted learned check."""
    return [*load_journeys(holdout_dir), *learned_checks(holdout_dir, "adopted")]


def apps_for(checks: Sequence[HoldoutCheck]) -> list[list[HoldoutCheck]]:
    """``checks`` by the fresh app each group runs on: each journey, and each learned check
    that may change the app's state, on one of its own; the other learned checks together."""
    still: list[HoldoutCheck] = [c for c in checks if isinstance(c, Learned) and not c.changes]
    return [[c] for c in checks if c not in still] + [still] * bool(still)
