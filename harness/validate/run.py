"""``factory validate N``: claim the issue, then validate (and maybe merge) its PR."""

from __future__ import annotations

from functools import partial

from harness.artifacts import Landing, ValidateInputs
from harness.engine.context import Services
from harness.engine.runner import RunOutcome, check_kill_switch, run_leased
from harness.errors import UsageError
from harness.forge.base import Label
from harness.validate.landing import give_back_landing, landed_by, leave


def unfinished_after_merge(services: Services) -> list[int]:
    """Issues whose validation merged but did not finish (killed or stopped right after the
    merge, in the smoke run or its revert): the issue may be closed by then, so only its
    open run says work is left."""
    store, landed = services.store, Landing.__name__
    return sorted(
        {
            run.issue
            for run in store.open_runs("validate")
            if run.issue is not None
            and (
                any(s.artifact == landed and s.status == "succeeded" for s in store.steps(run.id))
                or landed_by(store, services.forge, run.id) is not None
            )
        }
    )


def landing_unfinished(services: Services, number: int, action: str) -> None:
    """A usage error when issue ``number``'s change is already on production and its
    validation, interrupted after the merge, has not finished: nothing a person decides can
    land, retry or reject it now; the next ``factory run`` finishes it (its smoke run)."""
    if number in unfinished_after_merge(services):
        raise UsageError(
            f"issue {number}: its change has already landed on production; the validation "
            f"that merged it was interrupted and the next 'factory run' finishes it (the smoke "
            f"run after the merge): there is nothing to {action}"
        )


def validate_issue(services: Services, number: int, rehearsal: bool = False) -> RunOutcome:
    """``rehearsal`` (``factory backtest``): the run stops at the decided route, never
    merging (``workflows/validate.yaml``)."""
    check_kill_switch(services)
    issue = services.forge.get_issue(number)
    waiting = issue.state == "open" and Label.NEEDS_REVIEW in issue.labels
    if not waiting and number not in unfinished_after_merge(services):
        raise UsageError(f"issue {number} has no pull request waiting for validation")
    inputs = ValidateInputs(number=number, rehearsal=rehearsal)
    return run_leased(services, "validate", number, inputs, partial(_leave, services))


def _leave(services: Services, holder: str) -> None:
    """A validation's end: the landing lease it held from its merge step, its place in the
    merge queue."""
    give_back_landing(services.store, holder)
    leave(services.store, services.settings.state_dir, holder)
