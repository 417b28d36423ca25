"""The Autonomy Index: the share of issues that reached a final state with no human action,
over a window, overall and per kind (docs/trust.md, "The Autonomy Index"; a heal left to a
person counts too, docs/heal.md), one query over ``harness/store/outcomes.py``'s rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, computed_field

from harness.store.base import utc_now
from harness.store.db import Store


class KindIndex(BaseModel):
    """Of the issues that finished, how many did with no human action: ``overall``, their
    share (None while none finished), is in its JSON too."""

    model_config = ConfigDict(frozen=True)

    finished: int
    autonomous: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def overall(self) -> float | None:
        return round(self.autonomous / self.finished, 4) if self.finished else None


class AutonomyIndex(KindIndex):
    """Every kind's issues of the window (``overall``: the same share), and each kind's."""

    window_days: int
    by_kind: dict[str, KindIndex] = Field(default_factory=dict)


def autonomy_index_for(store: Store, days: int, now: float) -> AutonomyIndex:
    window = _window(now, days)
    found = store.finished_by_kind(*window)
    heals = store.heals_for_a_person(*window)
    if heals:  # each counts one, a person's
        found["heal"] = (heals, 0)
    return AutonomyIndex(
        window_days=days,
        finished=sum(finished for finished, _ in found.values()),
        autonomous=sum(autonomous for _, autonomous in found.values()),
        by_kind={
            kind: KindIndex(finished=finished, autonomous=autonomous)
            for kind, (finished, autonomous) in sorted(found.items())
        },
    )


def autonomy_series(store: Store, days: list[str], span: int) -> list[float | None]:
    """The overall index of the ``span`` days up to the end of each of ``days`` (ascending
    ``YYYY-MM-DD``; its last millisecond), as ``autonomy_index_for`` gives it, from the issues
    that finished counted per day by the store."""
    ends = [
        (datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1)).timestamp() - 0.001
        for day in days
    ]
    windows = [_window(end, span) for end in ends]
    found = store.finished_per_day(windows[0][0], windows[-1][1]) if windows else {}
    series = []
    for since, until in windows:  # the days after since's to until's, and what ended at since
        first = since[:10]
        last = until[:10]
        n = [c for (day, end), c in found.items() if first < day <= last or (end and day == first)]
        share = KindIndex(finished=sum(f for f, _ in n), autonomous=sum(a for _, a in n))
        series.append(share.overall)
    return series


def _window(end: float, days: int) -> tuple[str, str]:
    """The index's window: the ``days`` up to ``end``, both ends included, as stored times."""
    return utc_now(end - days * 86_400), utc_now(end)
