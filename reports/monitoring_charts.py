"""Charts of the monitored metrics, pure Altair so they can be checked without Streamlit."""

from __future__ import annotations

import altair as alt
import pandas as pd

from domain.dates import CHART_DAY_FORMAT
from domain.monitoring import METRIC_LABELS, METRIC_UNITS, METRICS, metric_label

BAND_COLOUR = "#90CAF9"
LINE_COLOUR = "#1565C0"
ANOMALY_COLOUR = "#C62828"
BAND_SOURCE_TEXT = {"job": "as the job judged it", "recomputed": "recomputed"}


def metric_layers(unit: str) -> list[alt.Chart]:
    """Band as an area, baseline dashed, metric as a line, anomalies and alert openings marked.

    The tooltip says whether a day's band is the one the daily job judged it by or recomputed
    (a day the job never scored).

    The layers carry no data: the layer (or facet) around them does.
    """
    base = alt.Chart().encode(x=alt.X("day:T", title=None))
    tooltip = [
        alt.Tooltip("day:T", title="Day", format="%a " + CHART_DAY_FORMAT),
        alt.Tooltip("value:Q", title=f"Value ({unit})", format=",.2f"),
        alt.Tooltip("baseline:Q", title="Baseline", format=",.2f"),
        alt.Tooltip("lower:Q", title="Band from", format=",.2f"),
        alt.Tooltip("upper:Q", title="Band to", format=",.2f"),
        alt.Tooltip("anomalous:N", title="Outside the band"),
        alt.Tooltip("band_note:N", title="Band"),
    ]
    band = base.mark_area(opacity=0.35, color=BAND_COLOUR).encode(
        y=alt.Y("lower:Q", title=unit), y2="upper:Q"
    )
    baseline = base.mark_line(strokeDash=[4, 3], color="#607D8B", strokeWidth=1).encode(
        y="baseline:Q"
    )
    line = base.mark_line(color=LINE_COLOUR, point=alt.OverlayMarkDef(size=12)).encode(
        y="value:Q", tooltip=tooltip
    )
    anomalies = (
        base.transform_filter(alt.datum.anomalous)
        .mark_point(color=ANOMALY_COLOUR, filled=True, size=60)
        .encode(y="value:Q", tooltip=tooltip)
    )
    openings = (
        base.transform_filter("isValid(datum.alert_id)")
        .mark_rule(color=ANOMALY_COLOUR, strokeWidth=2, strokeDash=[2, 2])
        .encode(
            tooltip=[
                alt.Tooltip("day:T", title="Alert opened", format=CHART_DAY_FORMAT),
                alt.Tooltip("alert_id:Q", title="Alert #"),
                alt.Tooltip("alert_state:N", title="State"),
            ]
        )
    )
    return [band, baseline, line, anomalies, openings]


def metric_chart(frame: pd.DataFrame, metric: str, height: int = 320) -> alt.LayerChart:
    """One metric of one model over the days of `frame` (a `metric_series`)."""
    return alt.layer(*metric_layers(METRIC_UNITS[metric]), data=frame).properties(
        height=height, title=metric_label(metric)
    )


def small_multiples(frame: pd.DataFrame) -> alt.FacetChart:
    """Every metric of one model, one small chart each, in the order of `METRICS`."""
    return (
        alt.layer(*metric_layers(""), data=frame)
        .properties(height=140, width=300)
        .facet(
            facet=alt.Facet(
                "metric_label:N",
                title=None,
                sort=[METRIC_LABELS[m] for m in METRICS],
                header=alt.Header(labelFontWeight="bold", labelFontSize=13),
            ),
            columns=2,
        )
        .resolve_scale(y="independent")
    )


def chart_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Altair wants plain columns: booleans as bools, missing alert ids as missing, and the
    band's source in words."""
    shown = frame.copy()
    shown["anomalous"] = shown["anomalous"].astype(bool)
    shown["incident_opens"] = shown["incident_opens"].astype(bool)
    shown["band_note"] = shown.get("band_source", "recomputed")
    shown["band_note"] = shown["band_note"].map(BAND_SOURCE_TEXT)
    return shown
