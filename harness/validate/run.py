"""``factory validate N``: validate (and maybe merge) issue N's PR, under the issue's lease
(``workflows/validate.yaml``)."""

from __future__ import annotations

from harness.artifacts import ValidateInputs
from harness.engine.actions import action
from harness.engine.context import Services, StepContext
from harness.engine.killswitch import check_kill_switch
from harness.engine.runner import Engine, RunOutcome
from harness.errors import UsageError
from harness.forge.base import Label
from harness.validate.landing import INTENT, give_back_landing, landed_by, leave


def landing_unfinished(services: Services, number: int, action: str) -> None:
    """A usage error when issue ``number``'s change is already on production and its
    validation, interrupted after the merge (the newest it began, which the forge merged,
    recorded or not), has not finished: nothing a person decides can land, retry or reject
    it now; the next ``factory run`` finishes it (its smoke run)."""
    store = services.store
    began = store.events(kind=INTENT, issue=number)  # the merges its validations began
    run = store.get_run(str(began[-1].run_id)) if began else None
    if run and run.status in ("running", "stopped") and landed_by(store, services.forge, run.id):
        raise UsageError(
            f"issue {number}: its change has already landed on production; the validation "
            f"that merged it was interrupted and the next 'factory run' finishes it (the smoke "
            f"run after the merge): there is nothing to {action}"
        )


def validate_issue(services: Services, number: int, rehearsal: bool = False) -> RunOutcome:
    """``rehearsal`` (``factory backtest``): the run stops at the decided route, never
    merging (``workflows/validate.yaml``). A validation left unfinished is resumed as it was;
    a new one needs a pull request waiting for it."""
    check_kill_switch(services)

    def waiting() -> None:
        issue = services.forge.get_issue(number)
        if issue.state != "open" or Label.NEEDS_REVIEW not in issue.labels:
            raise UsageError(f"issue {number} has no pull request waiting for validation")

    inputs = ValidateInputs(number=number, rehearsal=rehearsal)
    return Engine(services).run("validate", number, inputs, fresh=waiting)


@action("validate.leave")
def leave_queue(ctx: StepContext) -> None:
    """A validation's end, whatever became of it: production's landing lease it held from its
    merge step given back, its place in the merge queue left."""
    if ctx.lease is not None:
        give_back_landing(ctx.services.store, ctx.lease.holder)
        leave(ctx.services.store, ctx.services.settings.state_dir, ctx.lease.holder)
