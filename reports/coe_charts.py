"""Charts of the CoE benchmark, pure Altair so the page and the PDF draw the same picture."""

from __future__ import annotations

import altair as alt
import pandas as pd

WIDTH = 600
BAR_HEIGHT = 26
BELOW_MEDIAN = "#d08c2c"
AT_OR_ABOVE_MEDIAN = "#2f6fb0"


def percentile_bars(data: pd.DataFrame) -> alt.Chart:
    """A horizontal bar per measure with its percentile among peers (0-100) and a rule at 50,
    where the peer median sits; bars below the median are amber.

    `data` has `metric` and `percentile`, and optionally `value`, `peer_median` and `peers`
    (shown in the tooltip). Measures keep the order of the rows.
    """
    frame = data.copy()
    frame["percentile"] = frame["percentile"].astype(float).clip(0, 100)
    frame["position"] = frame["percentile"].map(
        lambda p: "below the peer median" if p < 50 else "at or above the peer median"
    )
    order = list(dict.fromkeys(frame["metric"].tolist()))
    tooltip = [
        alt.Tooltip("metric:N", title="Measure"),
        alt.Tooltip("percentile:Q", title="Percentile", format=".0f"),
    ]
    for column, title in (("value", "Value"), ("peer_median", "Peer median"), ("peers", "Peers")):
        if column in frame.columns:
            tooltip.append(alt.Tooltip(f"{column}:N", title=title))
    y = alt.Y("metric:N", sort=order, title=None, axis=alt.Axis(labelLimit=260, labelFontSize=12))
    bars = (
        alt.Chart(frame)
        .mark_bar(height=BAR_HEIGHT * 0.65)
        .encode(
            x=alt.X(
                "percentile:Q",
                title="Percentile among peers",
                scale=alt.Scale(domain=[0, 100]),
                axis=alt.Axis(values=[0, 25, 50, 75, 100]),
            ),
            y=y,
            color=alt.Color(
                "position:N",
                title=None,
                scale=alt.Scale(
                    domain=["below the peer median", "at or above the peer median"],
                    range=[BELOW_MEDIAN, AT_OR_ABOVE_MEDIAN],
                ),
                legend=alt.Legend(orient="bottom", labelLimit=0),
            ),
            tooltip=tooltip,
        )
    )
    labels = (
        alt.Chart(frame)
        .mark_text(align="left", dx=4, fontSize=11)
        .encode(x="percentile:Q", y=y, text=alt.Text("percentile:Q", format=".0f"))
    )
    median = pd.DataFrame({"percentile": [50.0], "label": ["peer median"]})
    rule = (
        alt.Chart(median)
        .mark_rule(color="#333333", strokeDash=[4, 3], strokeWidth=2)
        .encode(x="percentile:Q")
    )
    rule_label = (
        alt.Chart(median)
        .mark_text(align="left", dx=4, dy=-6, fontSize=11, color="#333333")
        .encode(x="percentile:Q", y=alt.value(0), text="label:N")
    )
    return (bars + labels + rule + rule_label).properties(width=WIDTH, height=alt.Step(BAR_HEIGHT))


def history_trend(history: pd.DataFrame, measures: dict[str, str]) -> alt.Chart:
    """A small line per measure over the customer's quarters; `measures` maps columns of
    `history` (which has `quarter`) to their labels."""
    long = history.melt(
        id_vars=["quarter"], value_vars=list(measures), var_name="measure", value_name="value"
    )
    long["measure"] = long["measure"].map(measures)
    return (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("quarter:O", title="Quarter", sort=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("value:Q", title=None),
            color=alt.Color(
                "measure:N",
                title=None,
                sort=list(measures.values()),
                legend=alt.Legend(orient="bottom", columns=2, labelLimit=0),
            ),
            tooltip=["quarter:O", "measure:N", alt.Tooltip("value:Q", format=",.1f")],
        )
        .properties(width=WIDTH, height=220)
    )
