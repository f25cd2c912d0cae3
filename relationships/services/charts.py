"""Bar charts as geometry for server-side SVG (templates/relationships/includes/bar_chart.html).

No chart library and no inline styles: the template draws <rect> and <text>
elements with CSS classes (static/rapport.css colours them, light and dark),
and a data table next to the chart says the same figures in words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

WIDTH = 640
HEIGHT = 220
LEFT = 36  # room for the axis figures
BOTTOM = 24  # room for the month labels
TOP = 8


@dataclass
class Series:
    name: str
    css: str
    values: list[int]


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    css: str
    title: str


@dataclass
class Chart:
    title: str
    description: str
    labels: list[str]
    series: list[Series]
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    ticks: list[tuple[float, int]] = field(default_factory=list)  # (y, value)
    label_positions: list[tuple[float, str]] = field(default_factory=list)
    baseline: float = 0.0
    left: int = LEFT

    @property
    def empty(self) -> bool:
        return not any(v for s in self.series for v in s.values)

    @property
    def rows(self) -> list[tuple[str, list[int]]]:
        """(label, [value per series]) for the data table."""
        return [(label, [s.values[i] for s in self.series]) for i, label in enumerate(self.labels)]


def _nice_max(value: int) -> int:
    """A round axis top at or above ``value``: 1, 2, 5, 10, 20, 50, ..."""
    if value <= 0:
        return 1
    power = 10 ** int(math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def bar_chart(title: str, description: str, labels: list[str], series: list[Series], *, stacked: bool = False) -> Chart:
    """Lay out one bar per label: series side by side, or stacked (each series a part of the total)."""
    chart = Chart(title=title, description=description, labels=labels, series=series)
    plot_w = WIDTH - LEFT - 4
    plot_h = HEIGHT - TOP - BOTTOM
    chart.baseline = TOP + plot_h
    n = max(len(labels), 1)
    totals = [sum(s.values[i] for s in series) if stacked else max((s.values[i] for s in series), default=0)
              for i in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    scale = plot_h / top
    chart.ticks = [(chart.baseline - plot_h * f, round(top * f)) for f in (0, 0.5, 1)]
    slot = plot_w / n
    inner = slot * 0.7
    for i, label in enumerate(labels):
        x0 = LEFT + slot * i + (slot - inner) / 2
        chart.label_positions.append((LEFT + slot * i + slot / 2, label))
        stack = chart.baseline
        for j, s in enumerate(series):
            value = s.values[i]
            h = value * scale
            if stacked:
                x, w, y = x0, inner, stack - h
                stack = y
            else:
                w = inner / len(series)
                x, y = x0 + j * w, chart.baseline - h
            chart.bars.append(Bar(round(x, 1), round(y, 1), round(w, 1), round(h, 1), value, s.css,
                                  f"{label}: {value} {s.name.lower()}"))
    return chart
