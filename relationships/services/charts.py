"""Bar charts drawn as server-side SVG: geometry (bar_chart), then markup (svg, the {% bar_chart %} tag).

No chart library and no inline styles: <rect> and <text> elements with CSS
classes (static/rapport.css colours them, light and dark), and a data table
next to the chart says the same figures in words. The markup is written here
rather than in a template: a chart is some hundred small elements, and the
template engine took a millisecond per chart, a tenth of the page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

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
    # A middle line only where it is a whole number: halfway up an axis of 5 is 2.5, and rounding it
    # labelled that line "2"; an axis of 1 had two lines labelled "0".
    values = (0, top // 2, top) if top % 2 == 0 else (0, top)
    chart.ticks = [(chart.baseline - plot_h * value / top, value) for value in values]
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


def svg(chart: Chart, chart_id: str) -> SafeString:
    """The chart as an accessible <figure>: the SVG (titled and described), its legend, and the figures as a table.

    Every text goes through format_html, so titles, labels and names are escaped.
    """
    grid = format_html_join(
        "",
        '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"></line>'
        '<text class="axis" x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>',
        ((chart.left, chart.width, y, y, chart.left - 6, y, value) for y, value in chart.ticks),
    )
    bars = format_html_join(
        "",
        '<rect class="bar {}" x="{}" y="{}" width="{}" height="{}" rx="2"><title>{}</title></rect>',
        ((b.css, b.x, b.y, b.width, b.height, b.title) for b in chart.bars if b.height),
    )
    # Every other label, counted back from the newest (always shown), is "minor": a phone's CSS hides those,
    # as twelve month names at a legible size do not fit side by side in 300 px.
    last = len(chart.label_positions) - 1
    labels = format_html_join(
        "", '<text class="axis{}" x="{}" y="{}" text-anchor="middle">{}</text>',
        ((" minor" if (last - i) % 2 else "", x, chart.height - 6, label)
         for i, (x, label) in enumerate(chart.label_positions)),
    )
    legend = format_html_join(
        "",
        '<span class="key"><svg width="12" height="12" aria-hidden="true" focusable="false">'
        '<rect class="bar {}" width="12" height="12" rx="2"></rect></svg> {}</span>',
        ((s.css, s.name) for s in chart.series),
    )
    heads = format_html_join("", '<th scope="col">{}</th>', ((s.name,) for s in chart.series))
    rows = format_html_join(
        "", '<tr><th scope="row">{}</th>{}</tr>',
        ((label, format_html_join("", "<td>{}</td>", ((v,) for v in values))) for label, values in chart.rows),
    )
    return format_html(
        '<figure class="chart">'
        '<svg class="chart-svg" viewBox="0 0 {width} {height}" role="img" aria-labelledby="{id}-title {id}-desc" '
        'preserveAspectRatio="xMidYMid meet">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{description}</desc>{grid}{bars}{labels}</svg>'
        '<figcaption class="legend">{legend}</figcaption>'
        '<details class="chart-data"><summary>The figures as a table</summary><table>'
        '<caption class="visually-hidden">{title}</caption>'
        '<thead><tr><th scope="col">Month</th>{heads}</tr></thead><tbody>{rows}</tbody></table></details>'
        "</figure>",
        width=chart.width, height=chart.height, id=chart_id, title=chart.title, description=chart.description,
        grid=grid, bars=bars, labels=labels, legend=legend, heads=heads, rows=rows,
    )
