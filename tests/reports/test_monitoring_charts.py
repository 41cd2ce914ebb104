"""The monitoring charts: the band, baseline, line, anomalies and alert openings of a metric."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd

from domain.monitoring import METRIC_LABELS, METRICS, metric_label
from reports.monitoring_charts import ANOMALY_COLOUR, chart_frame, metric_chart, small_multiples


def series(days: int = 3, metric: str = "open_time_s") -> pd.DataFrame:
    first = date(2026, 10, 1)
    return pd.DataFrame(
        {
            "day": [first + timedelta(days=n) for n in range(days)],
            "metric": metric,
            "metric_label": METRIC_LABELS[metric],
            "value": [10.0, 30.0, 11.0][:days],
            "baseline": 10.0,
            "lower": 8.0,
            "upper": 12.0,
            "anomalous": pd.array([False, True, False][:days], dtype="boolean"),
            "incident_opens": pd.array([False, True, False][:days], dtype="boolean"),
            "alert_id": pd.array([None, 7, None][:days], dtype="Int64"),
            "alert_state": [None, "new", None][:days],
        }
    )


def test_chart_frame_gives_altair_plain_booleans():
    shown = chart_frame(series())
    assert shown["anomalous"].dtype == bool
    assert shown["incident_opens"].tolist() == [False, True, False]


def test_one_metric_is_five_layers_titled_with_its_label_and_unit():
    spec = metric_chart(chart_frame(series()), "open_time_s", height=220).to_dict()
    assert spec["title"] == metric_label("open_time_s")
    assert spec["height"] == 220
    band, baseline, line, anomalies, openings = spec["layer"]
    assert band["mark"]["type"] == "area" and band["encoding"]["y2"]["field"] == "upper"
    assert band["encoding"]["y"]["title"] == "s"
    assert baseline["mark"]["strokeDash"] == [4, 3]
    assert line["encoding"]["y"]["field"] == "value"
    assert anomalies["mark"]["color"] == ANOMALY_COLOUR
    assert "anomalous" in json.dumps(anomalies["transform"])
    assert "alert_id" in json.dumps(openings["transform"])
    assert openings["mark"]["type"] == "rule"


def test_the_small_multiples_follow_the_metric_order_each_on_its_own_scale():
    frame = pd.concat([series(metric=metric) for metric in METRICS], ignore_index=True)
    spec = small_multiples(chart_frame(frame)).to_dict()
    assert spec["facet"]["sort"] == [METRIC_LABELS[m] for m in METRICS]
    assert spec["columns"] == 2
    assert spec["resolve"]["scale"]["y"] == "independent"


def test_the_tooltip_says_whether_the_band_is_the_jobs_or_recomputed():
    frame = series().assign(band_source=["recomputed", "job", "job"])
    shown = chart_frame(frame)
    assert shown["band_note"].tolist() == [
        "recomputed",
        "as the job judged it",
        "as the job judged it",
    ]
    assert chart_frame(series())["band_note"].eq("recomputed").all()
    line = metric_chart(shown, "open_time_s").to_dict()["layer"][2]
    assert {"field": "band_note", "type": "nominal", "title": "Band"} in line["encoding"]["tooltip"]
