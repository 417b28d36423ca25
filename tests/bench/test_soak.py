"""The soak's short form (``benchmarks/soak.py``): five simulated days of one factory, each
capability firing at least once (a heal loop, a flaky test, a kill, an audit, a lesson), every
invariant read from the factory's own records after every day. ``make bench`` runs thirty.

The soak runs once for the module; each test reads one invariant over every day."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks.soak import INVARIANTS, Day, World, soak, unfired

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.timeout(900)]
DAYS = 5
# a lesson is proposed without its rehearsal (two backtests): what this file checks of it is
# that it runs, one proposal per cause; ``make bench`` rehearses it
RULES = {"lessons": {"max_proposals": 1, "cases": 0, "max_usd": 2.0}}


@pytest.fixture(scope="module")
def lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, list[Day]]]:
    root = tmp_path_factory.mktemp("soak")
    with pytest.MonkeyPatch.context() as env:
        env.delenv("FACTORY_STATE_DIR", raising=False)
        yield soak(root, DAYS, say=lambda _: None, rules=RULES)


def _breaks(days: list[Day], invariant: str) -> list[str]:
    return [f"day {d.day}: {b}" for d in days for b in d.invariants[invariant]]


def test_every_production_commit_was_tested_as_landed(lived: tuple[World, list[Day]]) -> None:
    assert not _breaks(lived[1], "tested as landed")


def test_production_is_green_or_with_a_person_by_the_next_cycle(
    lived: tuple[World, list[Day]],
) -> None:
    assert not _breaks(lived[1], "green or with a person")


def test_no_issue_sits_in_progress_without_a_run(lived: tuple[World, list[Day]]) -> None:
    assert not _breaks(lived[1], "in progress without a run")


def test_nothing_is_filed_commented_or_merged_twice(lived: tuple[World, list[Day]]) -> None:
    assert not _breaks(lived[1], "nothing twice")


def test_every_regression_loop_closes_or_is_with_a_person(lived: tuple[World, list[Day]]) -> None:
    assert not _breaks(lived[1], "regression loops close")


def test_spend_stays_within_every_budget(lived: tuple[World, list[Day]]) -> None:
    assert not _breaks(lived[1], "within budgets")


def test_one_proposal_per_cause(lived: tuple[World, list[Day]]) -> None:
    assert not _breaks(lived[1], "one proposal per cause")


def test_every_invariant_is_checked_every_day(lived: tuple[World, list[Day]]) -> None:
    assert [d.day for d in lived[1]] == list(range(1, DAYS + 1))
    assert all(set(d.invariants) == set(INVARIANTS) for d in lived[1])


def test_every_capability_fired(lived: tuple[World, list[Day]]) -> None:
    """From the records: a change merged, heal reverted a factory merge, a check was
    diagnosed, the audit filed, a lessons run ran; and a factory run was killed (SIGKILL) and
    its work resumed."""
    assert unfired(*lived) == []
