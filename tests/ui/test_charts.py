"""The server-drawn charts: what the axis says is where the bars are."""

from __future__ import annotations

from relationships.services.charts import TOP, Series, bar_chart

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

