"""The server-drawn charts: what the axis says is where the bars are; phones leave every other month unnamed."""

from __future__ import annotations

import re

from django.template.loader import render_to_string

from relationships.services.charts import HEIGHT, TOP, Series, bar_chart

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _chart(values):
    return bar_chart("Talks", "Talks by month", MONTHS, [Series("From them", "series-a", values)])


def test_each_axis_line_is_labelled_with_the_value_at_its_height():
    for values, expected in (([1] + [0] * 11, [0, 1]), ([4, 5] + [0] * 10, [0, 5]), ([7, 3] + [0] * 10, [0, 5, 10])):
        chart = _chart(values)
        assert [value for _y, value in chart.ticks] == expected, values
        for y, value in chart.ticks:
            # A bar of exactly ``value`` would reach this line.
            assert abs(y - (chart.baseline - (chart.baseline - TOP) * value / expected[-1])) < 0.01


def svg(chart, chart_id):
    return render_to_string("relationships/includes/chart.html#bar_chart", {"chart": chart, "chart_id": chart_id})


def test_every_other_month_counted_from_the_newest_is_minor_for_a_phone():
    html = str(svg(_chart(list(range(12))), "c"))
    labels = re.findall(r'<text class="axis( minor)?" x="[\d.]+" y="%d" text-anchor="middle">(\w+)</text>' % (HEIGHT - 6),
                        html)
    assert [name for minor, name in labels if not minor] == ["Feb", "Apr", "Jun", "Aug", "Oct", "Dec"]
    assert [name for minor, name in labels if minor] == ["Jan", "Mar", "May", "Jul", "Sep", "Nov"]
