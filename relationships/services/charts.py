"""Bar charts as geometry: where each bar, axis line and month label goes, computed here.

The markup is the template's (``templates/relationships/includes/chart.html``,
the ``bar_chart`` partial): an accessible <figure> with the SVG, its legend and
a data table saying the same figures in words. No chart library and no inline
styles: <rect> and <text> elements with CSS classes (static/rapport.css colours
them, light and dark).
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
class Label:
    x: float
    text: str
    #: Every other label, counted back from the newest (always shown), is minor: a phone's CSS hides those,
    #: as twelve month names at a legible size do not fit side by side in 300 px.
    minor: bool


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
    label_positions: list[Label] = field(default_factory=list)
    baseline: float = 0.0
    left: int = LEFT

    @property
    def tick_x(self) -> int:
        """Where the axis figures end, right-aligned left of the plot."""
        return self.left - 6

    @property
    def label_y(self) -> int:
        """The month labels' baseline, under the plot."""
        return self.height - 6

    @property
    def drawn_bars(self) -> list[Bar]:
        """The bars with a height: a zero draws nothing."""
        return [bar for bar in self.bars if bar.height]

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
    # A middle line only where it is a whole number: halfway up an axis of 5 is 2.5, and rounding it
    # labelled that line "2"; an axis of 1 had two lines labelled "0".
    values = (0, top // 2, top) if top % 2 == 0 else (0, top)
    chart.ticks = [(chart.baseline - plot_h * value / top, value) for value in values]
    slot = plot_w / n
    inner = slot * 0.7
    last = len(labels) - 1
    for i, label in enumerate(labels):
        x0 = LEFT + slot * i + (slot - inner) / 2
        chart.label_positions.append(Label(LEFT + slot * i + slot / 2, label, minor=bool((last - i) % 2)))
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
