"""Every fault of ``soak --mutants`` still applies to the harness as it is (``make bench`` runs
them; ``make test`` runs two): an edit whose ``old`` text a later change rewrote would make
that fault fail to start, and its invariant go unproven, only in ``make bench``; an edit whose
``new`` text names what its place no longer defines (a variable a later change renamed) would
make the factory fail on a ``NameError`` where the fault was to be, and the soak catch that
instead, a miss only a whole ``make bench`` shows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.soak_mutants import ROOT, Mutant, load

RUFF = Path(sys.executable).with_name("ruff")


@pytest.mark.parametrize("mutant", load(), ids=lambda m: m.name)
def test_each_edit_of_each_fault_applies_once_and_names_only_what_its_place_defines(
    mutant: Mutant,
) -> None:
    mutated: dict[str, str] = {}
    for edit in mutant.edits:
        text = mutated.get(edit["file"]) or (ROOT / edit["file"]).read_text()
        assert text.count(edit["old"]) == 1, (edit["file"], edit["old"][:80])
        mutated[edit["file"]] = text.replace(edit["old"], edit["new"])
    for name, text in mutated.items():
        argv = [str(RUFF), "check", "--isolated", "--select", "F821", "--stdin-filename", name, "-"]
        found = subprocess.run(argv, input=text, capture_output=True, text=True, cwd=ROOT)
        assert found.returncode == 0, found.stdout
