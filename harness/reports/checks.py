"""The learned checks (docs/how-it-works.md, "Learned checks") as every face lists them:
``factory checks`` (``--json`` too), MCP's ``checks`` and the dashboard's Checks page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.browser.journeys import learned_checks

if TYPE_CHECKING:
    from harness.engine.context import Services


@dataclass(frozen=True)
class CheckRow:
    """A learned check: where it came from (``id``: ``N-Cn``, criterion Cn of issue #N, merged
    as ``merge``), its state, why and since when (``at``), and its newest replay
    the store keeps: whether it ``held``, when, in how many ``seconds``, in which ``run`` (None:
    none kept). Never what it does or quotes: that is the hold-out's (``factory checks show``)."""

    id: str
    merge: str
    state: str
    why: str
    at: str
    held: bool | None = None
    replayed: str | None = None
    seconds: float | None = None
    run: str | None = None


def check_rows(services: Services) -> list[CheckRow]:
    """Every learned check, with its newest replay among the newest hold-out runs kept."""
    steps = services.store.typed_steps(("Baseline", "CheckResult", "Smoke", "HoldoutRun"))
    newest = {
        j["name"]: (j["passed"], s.finished_at, j["duration_s"], s.run_id)
        for _, s in reversed(steps)
        for j in s.outputs.get("journeys", [])
    }
    return [
        CheckRow(c.id, c.merge, c.state, c.why, c.at, *newest.get(c.name, ()))
        for c in learned_checks(services.settings.holdout_dir)
    ]
