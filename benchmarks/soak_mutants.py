"""``python -m benchmarks soak --mutants [NAME …]``: the soak proves itself. Each named fault
(``benchmarks/soak_mutants.yaml``) is put into a scratch copy of the harness — never the tree
it was read from — one at a time, and the shortest soak that shows it runs on that copy, with
the copy's own interpreter environment (the installed one, hard-linked, its path to the
harness pointed at the copy: the sealed validator and every sandbox import the copy too).
The unmutated copy runs first, as long as the longest of them: a soak that breaks without a
fault proves nothing about one. A fault is caught when the invariant it names breaks (on any
day); flagged only by another, only because a capability never fired, or not at all, it is a
miss."""

from __future__ import annotations

import compileall
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmarks.soak_records import SETTLED

MUTANTS = Path(__file__).with_name("soak_mutants.yaml")
ROOT = Path(__file__).resolve().parent.parent
COPIED = ("harness", "workflows", "validators", "benchmarks", "tests/standins")


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # where in the product it lies: merge, liveness, forge, spend, heal, …
    days: int
    expect: str  # the invariant expected to catch it
    edits: tuple[dict[str, str], ...]
    github: int = 0
    only: tuple[str, ...] = ()  # the opening's users whose issues it needs (all when empty)


@dataclass
class Outcome:
    """What one soak on the scratch copy found: the invariants broken on the first day one
    was, and that day; the capabilities never fired; its wall-clock seconds; or why it could
    not run."""

    mutant: Mutant | None
    invariants: list[str] = field(default_factory=list)
    day: int | None = None
    missing: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    @property
    def caught(self) -> bool:
        """Broken without a fault; with one, broken by the invariant that fault names."""
        return self.mutant.expect in self.invariants if self.mutant else bool(self.invariants)

    @property
    def by(self) -> str:
        """What caught it: the invariant expected, when it broke, else the first that did."""
        expected = self.mutant.expect if self.mutant else None
        found = [expected] if expected in self.invariants else self.invariants[:1]
        others = [i for i in self.invariants if i not in found]
        return ", ".join(found) + (f" (and {', '.join(others)})" if others else "")


def load(names: list[str] | None = None) -> list[Mutant]:
    """The faults, all or those ``names`` (an unknown name: ``SystemExit``, one line)."""
    every = [
        Mutant(**{**m, "edits": tuple(m["edits"]), "only": tuple(m.get("only", ()))})
        for m in yaml.safe_load(MUTANTS.read_text())
    ]
    if not names:
        return every
    known = {m.name for m in every}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"soak --mutants: no fault named {unknown[0]!r}")
    return [m for m in every if m.name in names]


class Scratch:
    """A scratch copy of the harness and an interpreter environment that imports it."""

    def __init__(self, where: Path) -> None:
        self.where, self.src = where, where / "src"
        self.touched: set[str] = set()  # the files the last fault edited
        for name in COPIED:  # with the tree's bytecode: its sources keep their times
            shutil.copytree(ROOT / name, self.src / name)
        (self.src / "tests" / "__init__.py").write_text("")
        self._compiled()
        venv = where / "venv"
        subprocess.run(["cp", "-al", sys.prefix, str(venv)], check=True)
        for pth in venv.glob("lib/python*/site-packages/*.pth"):
            if pth.read_text().strip() == str(ROOT):
                pth.unlink()  # a hard link: the installed file stays as it is
                pth.write_text(f"{self.src}\n")
        self.python = venv / "bin" / "python"

    def mutate(self, mutant: Mutant | None) -> None:
        """The copy as the tree has it, then with ``mutant``'s edits (each must apply once)."""
        for name in {e["file"] for m in [mutant] if m for e in m.edits} | self.touched:
            shutil.copy2(ROOT / name, self.src / name)
        self.touched = {e["file"] for e in mutant.edits} if mutant else set()
        for edit in mutant.edits if mutant else ():
            path = self.src / edit["file"]
            text = path.read_text()
            if text.count(edit["old"]) != 1:
                raise ValueError(
                    f"{mutant.name if mutant else ''}: the edit of {edit['file']} "
                    f"does not apply once: {edit['old'][:60]!r}"
                )
            path.write_text(text.replace(edit["old"], edit["new"]))
        self._compiled()

    def _compiled(self) -> None:
        """Bytecode of every module of the copy that lacks it or whose source changed: written
        once here, since a sealed validator (another uid) or a sandbox cannot write it, and
        would compile what it imports from source each time it starts."""
        for name in COPIED:
            compileall.compile_dir(self.src / name, quiet=1)

    def soak(
        self,
        mutant: Mutant | None,
        days: int,
        seed: int,
        github: int = 0,
        early: bool = False,
        only: tuple[str, ...] = (),
    ) -> Outcome:
        """The soak on the copy as it is now (``early``: stopped as soon as the invariant
        expected to catch ``mutant`` breaks, when it is one read after any factory command,
        ``SETTLED``), on the world of ``mutant`` (``only``: of those users alone)."""
        argv = [str(self.python), "-m", "benchmarks", "soak", "--days", str(days)]
        argv += ["--seed", str(seed), "--github", str(github), "--json"]
        argv += ["--stop", mutant.expect] if early and mutant and mutant.expect in SETTLED else []
        users = only or (mutant.only if mutant else ())
        argv += ["--only", *users] if users else []
        env = {k: v for k, v in os.environ.items() if k not in ("SOAK_DIR", "PYTHONPATH")}
        began = time.monotonic()
        done = subprocess.run(argv, cwd=self.src, env=env, capture_output=True, text=True)
        seconds = time.monotonic() - began
        try:
            said: dict[str, Any] = json.loads(done.stdout)
            broken = said["first_break"]
        except (ValueError, TypeError, KeyError):
            why = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            return Outcome(mutant, seconds=seconds, error=why)
        missing = [m for found in said["missing"].values() for m in found]
        if broken is None:
            return Outcome(mutant, missing=missing, seconds=seconds)
        day, names = broken["day"], list(broken["invariants"])
        if mutant and mutant.expect not in names:  # its own invariant on a later day, if any
            later = [
                d["day"]
                for d in said["per_day"]
                for b in d["broken"]
                if b.startswith(f"{mutant.expect}: ")
            ]
            day, names = (later[0], [mutant.expect, *names]) if later else (day, names)
        return Outcome(mutant, names, day, missing, seconds)


def run(names: list[str] | None, seed: int, say: Any = print) -> tuple[Outcome, list[Outcome]]:
    """The unmutated soak (as long as the longest fault's), on the whole world and on each
    smaller world a fault runs on (a fault caught there proves nothing unless the invariant
    holds there without it: the first that broke stands for them), then each fault's."""
    mutants = load(names)
    where = Path(tempfile.mkdtemp(prefix="soak-mutants-"))
    try:
        scratch = Scratch(where)
        longest = max(mutants, key=lambda m: (m.days, m.github))
        scratch.mutate(None)
        base = scratch.soak(None, longest.days, seed, longest.github)
        say(f"unmutated, {longest.days} days: " + _shown(base))
        for only in dict.fromkeys(m.only for m in mutants if m.only):
            on = [m for m in mutants if m.only == only]
            days, github = max(m.days for m in on), max(m.github for m in on)
            small = scratch.soak(None, days, seed, github, only=only)
            say(f"unmutated, {days} days, {', '.join(only)} alone: " + _shown(small))
            base = base if base.caught or base.error else small  # the first that broke
        outcomes = []
        for mutant in mutants:
            scratch.mutate(mutant)
            outcomes.append(scratch.soak(mutant, mutant.days, seed, mutant.github))
            say(f"{mutant.name}, {mutant.days} days: " + _shown(outcomes[-1]))
        return base, outcomes
    finally:
        shutil.rmtree(where, ignore_errors=True)


def _shown(outcome: Outcome) -> str:
    if outcome.error:
        return f"could not run: {outcome.error}"
    if outcome.caught:
        return f"caught by {outcome.by} on day {outcome.day} ({outcome.seconds:.0f} s)"
    if outcome.invariants:
        return f"MISSED: only {outcome.by} broke, on day {outcome.day} ({outcome.seconds:.0f} s)"
    never = f" (never fired: {', '.join(outcome.missing)})" if outcome.missing else ""
    return f"no invariant broke{never} ({outcome.seconds:.0f} s)"


def table(base: Outcome, outcomes: list[Outcome], seed: int) -> str:
    """The mutation table ``benchmarks/results.md`` shows."""
    rows = [
        "| fault | where | days | caught by | day | expected | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        m = o.mutant
        assert m is not None
        caught = (
            o.by
            if o.caught
            else "could not run: " + o.error
            if o.error
            else f"**missed** (broke only {o.by})"
            if o.invariants
            else "**missed**"
        )
        rows.append(
            f"| {m.name} | {m.path} | {m.days} | {caught} | {o.day or '—'} | {m.expect} "
            f"| {o.seconds:.0f} |"
        )
    hits = sum(o.caught for o in outcomes)
    clean = (
        "held every invariant"
        if not base.caught and not base.error
        else (f"BROKE ({base.by} on day {base.day})" if base.caught else f"failed: {base.error}")
    )
    return (
        f"Seed {seed}. The unmutated soak {clean}. Caught by a named invariant: {hits} of "
        f"{len(outcomes)}.\n\n" + "\n".join(rows)
    )


def main(names: list[str], seed: int) -> int:
    """Print the table; exit 1 on a miss, or when the unmutated soak broke."""
    try:
        base, outcomes = run(names or None, seed)
    except (SystemExit, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 2
    print(table(base, outcomes, seed))
    clean = not base.caught and base.error is None
    return 0 if clean and all(o.caught for o in outcomes) else 1
