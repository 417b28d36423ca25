"""Spend caps from the rules: a model call that could take spend past a cap is not made."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from harness.errors import BudgetExceeded

if TYPE_CHECKING:
    from harness.config.models import Rules
    from harness.model.blocks import Request
    from harness.store.db import Store


def start_of_day(now: float) -> str:
    """ISO timestamp of the UTC midnight before ``now`` (the per-day budget window)."""
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.strftime("%Y-%m-%dT%H:%M:%SZ")


def worst_case_cost(model: str, request: Request) -> float:
    """Upper estimate of one call: a token per three input characters (an image at its
    largest), the full ``max_tokens`` out. (The model's modules are imported here: a command
    that reads only ``start_of_day``, such as ``factory status``, never loads the prices.)"""
    from harness.model.base import Usage
    from harness.model.blocks import estimate_tokens
    from harness.model.pricing import cost_usd

    parts = [request.get("system"), request.get("tools"), request["messages"]]
    tokens = estimate_tokens(dict(zip(("system", "tools", "messages"), parts, strict=True)), 3)
    usage = Usage(input_tokens=tokens + 1, output_tokens=request["max_tokens"])
    return cost_usd(model, usage)


def check_caps(caps: list[tuple[str, float, float]], need: float) -> None:
    """Raise ``BudgetExceeded`` (naming the cap) if a call that may cost ``need`` would take
    any ``(name, cap, spent)`` past its cap. The one budget check: the engine's guard and the
    sealed validator (which has no store, only its allowance) both make it here."""
    for name, cap, spent in caps:
        if spent + need > cap:
            raise BudgetExceeded(
                f"budget {name} ${cap:.2f} would be exceeded: spent ${spent:.4f}, "
                f"next call may cost up to ${need:.4f}"
            )


@dataclass
class BudgetGuard:
    store: Store
    rules: Rules
    run_id: str
    issue: int | None
    clock: Callable[[], float]
    workflow: str

    def check(self, model: str, request: Request) -> None:
        """Raise ``BudgetExceeded`` (with the cap named) if this call could break a cap."""
        need = worst_case_cost(model, request)
        budgets = self.rules.budgets
        today = self.store.spend(since=start_of_day(self.clock()))
        caps: list[tuple[str, float, float]] = [
            ("per_run_usd", budgets.per_run_usd, self.store.spend(run_id=self.run_id)),
            ("per_day_usd", budgets.per_day_usd, today),
        ]
        own = self.rules.workflow_usd(self.workflow)
        if own is not None:
            caps.append((f"{self.workflow}.max_usd", own, caps[0][2]))  # what the run spent
        if self.issue is not None:
            caps.append(
                ("per_issue_usd", budgets.per_issue_usd, self.store.spend(issue=self.issue))
            )
        check_caps(caps, need)
