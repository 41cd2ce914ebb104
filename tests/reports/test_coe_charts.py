"""The CoE percentile bars: a bar per measure on 0-100 and a rule at the peer median (50)."""

from __future__ import annotations

import json

import pandas as pd

from reports.coe_charts import WIDTH, history_trend, percentile_bars


def layers(spec: dict) -> list[dict]:
    return spec["layer"]


def test_a_bar_per_measure_in_order_and_the_median_rule_at_fifty():
    data = pd.DataFrame(
        {
            "metric": ["Certified model builders", "Production models", "Active share"],
            "percentile": [12.5, 60.0, 140.0],
            "value": ["1", "9", "50 %"],
            "peer_median": ["3", "8", "80 %"],
        }
    )
    spec = percentile_bars(data).to_dict()
    assert spec["width"] == WIDTH
    bars, _labels, rule, _rule_label = layers(spec)
    assert bars["mark"]["type"] == "bar"
    assert bars["encoding"]["x"]["scale"]["domain"] == [0, 100]
    assert bars["encoding"]["y"]["sort"] == data["metric"].tolist()
    rows = spec["datasets"][bars.get("data", spec["data"])["name"]]
    assert [row["percentile"] for row in rows] == [12.5, 60.0, 100.0]  # clipped to 100
    assert [row["position"] for row in rows] == [
        "below the peer median",
        "at or above the peer median",
        "at or above the peer median",
    ]
    assert rule["mark"]["type"] == "rule"
    assert spec["datasets"][rule["data"]["name"]] == [{"percentile": 50.0, "label": "peer median"}]
    assert "Peer median" in json.dumps(bars["encoding"]["tooltip"])


def test_the_trend_has_a_line_per_measure():
    history = pd.DataFrame(
        {"quarter": ["2026Q2", "2026Q3"], "certified_builders": [2, 3], "production_models": [8, 9]}
    )
    spec = history_trend(
        history, {"certified_builders": "Builders", "production_models": "Models"}
    ).to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert {(row["measure"], row["value"]) for row in rows} == {
        ("Builders", 2),
        ("Builders", 3),
        ("Models", 8),
        ("Models", 9),
    }
