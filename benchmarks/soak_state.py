"""What the soak knows of its world: the factory, its repository and forge, and what a person
would remember (benchmarks/soak.py builds and runs it; benchmarks/soak_records.py reads the
factory's records against it)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.soak_kills import Forks
from benchmarks.soak_oracle import Watch
from benchmarks.soak_sides import Side
from benchmarks.soak_users import Users, Written


@dataclass
class Issued:
    """What the world knows of an issue a user filed: what they meant, as they wrote it."""

    number: int
    written: Written
    day: int
    edited: bool = False


@dataclass
class World:
    """One factory and everything around it: its repository, hold-out, state and scripted
    answers, its forge as its users and maintainer reach it (``side``), and what a person
    would remember (the commits they broke, the issues they filed). The invariants read
    none of this but the world's own facts: who the maintainer is, which journeys the
    hold-out held each day, what each user meant; and what the world saw and did
    (``watch``: ``benchmarks/soak_oracle.py``), which the world's own invariants read."""

    root: Path
    repo: Path
    holdout: Path
    state: Path
    script: Path
    calls: Path  # the model's recorded requests and answers (``provider.record``)
    data: dict[str, Any]
    rng: random.Random
    users: Users
    side: Side
    first_day: int = 1  # the month's day on which this world's stretch began
    rules: list[dict[str, Any]] = field(default_factory=list)  # per issue, newest first
    issued: dict[int, Issued] = field(default_factory=dict)
    to_undo: list[str] = field(default_factory=list)  # the maintainer's breakages
    broke_at: dict[str, str] = field(default_factory=dict)  # a breakage -> the commit that made it
    journeys: dict[str, float] = field(default_factory=dict)  # hold-out file -> when added
    todos: list[str] = field(default_factory=list)  # TODO lines the maintainer added
    kills_due: list[str] = field(default_factory=list)  # this week's forge-write points to land
    caps: dict[int, dict[str, float]] = field(default_factory=dict)  # each day's budgets
    mended: int = 0  # the day the maintainer last undid a breakage of theirs
    cap_before: float = 0.0  # the day's cap before the maintainer lowered it
    start: float = 0.0
    base: str = ""  # production when the stretch began
    stop: str | None = None  # an invariant of SETTLED whose first break ends the soak
    only: tuple[str, ...] = ()  # the opening's users whose issues are filed (all when empty)
    without: tuple[str, ...] = ()  # the opening's maintainer changes left out
    forks: Forks = field(default_factory=Forks)  # where its killed commands are forked from
    watch: Watch = field(default_factory=Watch)  # what it saw and did

    @property
    def forge_kind(self) -> str:
        return self.side.kind
