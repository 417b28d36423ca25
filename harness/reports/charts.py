"""Chart geometry for the server-rendered SVG charts (the shapes are drawn by the templates)."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 560
HEIGHT = 180
PAD = 24
INNER_W = WIDTH - 2 * PAD  # what the values are drawn in, within the padding
INNER_H = HEIGHT - 2 * PAD


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    label: str
    value: str


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    bars: list[Bar]
    points: str  # a polyline's points ("" for a bar chart)
    top: str  # the value the top of the chart stands for
    first: str
    last: str


def _dated(title: str, shapes: list[Bar], points: str, top: str, labels: list[str]) -> Chart:
    """A chart of the full size over ``labels`` (days), named by its first and last."""
    first, last = (labels[0], labels[-1]) if labels else ("", "")
    return Chart(title, WIDTH, HEIGHT, shapes, points, top, first, last)


def bars(title: str, labels: list[str], values: list[float], fmt: str = "{:g}") -> Chart:
    """A vertical bar per value, scaled to the largest."""
    top = max([*values, 0.0]) or 1.0
    step = INNER_W / max(1, len(values))
    shapes = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = INNER_H * (value / top)
        shapes.append(
            Bar(
                x=round(PAD + i * step + step * 0.1, 2),
                y=round(PAD + INNER_H - h, 2),
                w=round(step * 0.8, 2),
                h=round(h, 2),
                label=label,
                value=fmt.format(value),
            )
        )
    return _dated(title, shapes, "", fmt.format(max([*values, 0.0])), labels)


def line(title: str, labels: list[str], values: list[float | None]) -> Chart:
    """A line through the known values (None: no point that day): shares, from 0 to 1."""
    step = INNER_W / max(1, len(values) - 1)
    points = []
    dots = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        if value is None:
            continue
        x = PAD + i * step
        y = PAD + INNER_H - INNER_H * value
        points.append(f"{x:.1f},{y:.1f}")
        dots.append(Bar(round(x, 1), round(y, 1), 0, 0, label, f"{value:.2f}"))
    return _dated(title, dots, " ".join(points), "1", labels)


def hbars(title: str, items: dict[str, int]) -> Chart:
    """A horizontal bar per named count (refusals by reason)."""
    top = max([*items.values(), 0]) or 1
    row = 22
    height = max(60, PAD * 2 + row * len(items))
    label_w = 220
    span = WIDTH - label_w - PAD  # the longest bar
    shapes = [
        Bar(label_w, PAD + i * row, round(span * value / top, 2), row - 6, name, str(value))
        for i, (name, value) in enumerate(items.items())
    ]
    return Chart(title, WIDTH, height, shapes, "", str(top), "", "")
