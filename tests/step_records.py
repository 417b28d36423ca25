"""Step records as a run's store would return them, for tests that hand a step its context
without running the steps before it."""

from __future__ import annotations

from typing import Any

from harness.store.records import StepRecord


def recorded(step_id: str, outputs: dict[str, Any], status: str = "succeeded") -> StepRecord:
    """Step ``step_id`` as recorded with ``outputs`` (a failure's ``error`` and ``kind`` taken
    out of them into the record's own fields)."""
    evidence = {k: v for k, v in outputs.items() if k not in ("error", "kind")}
    return StepRecord(
        seq=0,
        run_id="r-x",
        step_id=step_id,
        attempt=1,
        status=status,
        inputs={},
        outputs=evidence,
        error=outputs.get("error"),
        started_at="",
        finished_at=None,
        duration_s=None,
        model_s=0.0,
        subprocess_s=0.0,
        error_kind=outputs.get("kind"),
    )


def by_step(steps: dict[str, dict[str, Any]], status: str = "succeeded") -> dict[str, StepRecord]:
    """``recorded`` for each step of ``steps`` (step id -> outputs)."""
    return {step_id: recorded(step_id, outputs, status) for step_id, outputs in steps.items()}
