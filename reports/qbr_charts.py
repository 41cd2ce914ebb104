"""The QBR's charts: one Altair chart per `domain.qbr.Chart` kind, pure Altair (no Streamlit).

The page shows `build_chart(chart)` with `ui.charts.show_chart` and the PDF renders
`build_chart(chart).to_dict()` with vl-convert, so every chart carries its data inline and a
fixed width, with type large enough to read on a meeting-room screen.
"""

from __future__ import annotations

from collections.abc import Callable

import altair as alt
import pandas as pd

from domain.dates import CHART_DAY_FORMAT, CHART_SHORT_DAY_FORMAT
from domain.lifecycle import SEVERITY_LABELS
from domain.monitoring import SEVERITY_LABELS as ALERT_SEVERITY_LABELS
from domain.monitoring import SEVERITY_LEVELS
from domain.qbr import Chart

WIDTH = 600
FONT = 14
SEVERITY_COLOURS = ["#b3261e", "#e8710a", "#f2b600", "#7aa6c2"]  # Sev 1 (critical) … Sev 4
ALERT_COLOURS = ["#f2b600", "#e8710a", "#b3261e"]  # minor, major, critical


def build_chart(chart: Chart) -> alt.TopLevelMixin:
    """The Altair chart for `chart.kind`; an unknown kind is a programming error (ValueError)."""
    builders: dict[str, Callable[[pd.DataFrame], alt.TopLevelMixin]] = {
        "cases_weekly": cases_weekly,
        "usage_small_multiples": usage_small_multiples,
        "alerts_by_metric": alerts_by_metric,
        "coe_percentiles": _coe_percentiles,
    }
    if chart.kind not in builders:
        raise ValueError(f"No QBR chart of kind {chart.kind!r}.")
    return _readable(builders[chart.kind](chart.data))


def cases_weekly(data: pd.DataFrame) -> alt.Chart:
    """Stacked bars of cases opened per week (`week_start`, `severity` label, `cases`)."""
    frame = data.assign(week_start=pd.to_datetime(data["week_start"]))
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("yearmonthdate(week_start):O", title="Week starting", axis=_date_axis()),
            y=alt.Y("sum(cases):Q", title="Cases opened", axis=alt.Axis(tickMinStep=1)),
            color=alt.Color(
                "severity:N",
                title="Severity",
                scale=alt.Scale(domain=list(SEVERITY_LABELS.values()), range=SEVERITY_COLOURS),
                legend=alt.Legend(orient="bottom"),
            ),
            order=alt.Order("severity:N", sort="ascending"),
            tooltip=[
                alt.Tooltip("week_start:T", title="Week starting", format=CHART_DAY_FORMAT),
                alt.Tooltip("severity:N", title="Severity"),
                alt.Tooltip("cases:Q", title="Cases"),
            ],
        )
        .properties(width=WIDTH, height=260)
    )


def usage_small_multiples(data: pd.DataFrame) -> alt.VConcatChart:
    """One small line chart per measure (`week_start`, `measure`, `value`), each on its own
    scale, stacked with a shared week axis."""
    frame = data.assign(week_start=pd.to_datetime(data["week_start"]))
    measures = list(dict.fromkeys(frame["measure"].tolist()))
    panels = [
        alt.Chart(frame[frame["measure"] == measure], title=measure)
        .mark_line(point=True, strokeWidth=3)
        .encode(
            x=alt.X("yearmonthdate(week_start):O", title=None, axis=_date_axis()),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            tooltip=[
                alt.Tooltip("week_start:T", title="Week starting", format=CHART_DAY_FORMAT),
                alt.Tooltip("value:Q", title=measure, format=",.1f"),
            ],
        )
        .properties(width=WIDTH, height=120)
        for measure in measures
    ]
    return alt.vconcat(*panels, spacing=18)


def alerts_by_metric(data: pd.DataFrame) -> alt.Chart:
    """Horizontal stacked bars of alerts opened per metric and severity (`metric`,
    `severity` label, `alerts`); metrics without alerts are left out."""
    totals = data.groupby("metric")["alerts"].transform("sum")
    frame = data[(totals > 0) & (data["alerts"] > 0)]
    order = list(dict.fromkeys(frame["metric"].tolist()))
    severities = [ALERT_SEVERITY_LABELS[name] for name, _ in SEVERITY_LEVELS]
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("metric:N", sort=order, title=None, axis=alt.Axis(labelLimit=260)),
            x=alt.X("sum(alerts):Q", title="Alerts opened", axis=alt.Axis(tickMinStep=1)),
            color=alt.Color(
                "severity:N",
                title="Severity",
                scale=alt.Scale(domain=severities, range=ALERT_COLOURS),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("metric:N", title="Metric"),
                alt.Tooltip("severity:N", title="Severity"),
                alt.Tooltip("alerts:Q", title="Alerts"),
            ],
        )
        .properties(width=WIDTH, height=max(34 * len(order), 60))
    )


def _coe_percentiles(data: pd.DataFrame) -> alt.Chart:
    from reports.coe_charts import percentile_bars

    return percentile_bars(data)


def _date_axis() -> alt.Axis:
    return alt.Axis(format=CHART_SHORT_DAY_FORMAT, labelAngle=-45, labelOverlap=True)


def _readable(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """Type large enough for a meeting-room screen, the same on the page and on paper."""
    return (
        chart.configure_axis(labelFontSize=FONT, titleFontSize=FONT)
        .configure_legend(labelFontSize=FONT, titleFontSize=FONT)
        .configure_title(fontSize=FONT + 2, anchor="start")
        .configure_view(stroke=None)
    )
