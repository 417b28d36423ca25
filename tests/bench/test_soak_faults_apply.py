"""Every fault of ``soak --mutants`` still applies to the harness as it is (``make bench`` runs
them; ``make test`` runs two): an edit whose ``old`` text a later change rewrote would make
that fault fail to start, and its invariant go unproven, only in ``make bench``."""

from __future__ import annotations

import pytest

from benchmarks.soak_mutants import ROOT, Mutant, load


@pytest.mark.parametrize("mutant", load(), ids=lambda m: m.name)
def test_each_edit_of_each_fault_applies_once(mutant: Mutant) -> None:
    for edit in mutant.edits:
        text = (ROOT / edit["file"]).read_text()
        assert text.count(edit["old"]) == 1, (edit["file"], edit["old"][:80])
