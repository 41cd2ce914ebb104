"""The survey results charts: SUS answers as shares, the NPS split and the yearly trend."""

from __future__ import annotations

import pandas as pd

from domain.surveys import LIKERT_LABELS
from reports.survey_charts import (
    NPS_GROUPS,
    item_distribution_chart,
    nps_split_chart,
    short_statement,
    trend_chart,
)


def test_a_long_statement_is_cut_for_the_axis_and_a_short_one_kept():
    assert short_statement("I found it easy.") == "I found it easy."
    cut = short_statement("x" * 80, limit=20)
    assert len(cut) == 20 and cut.endswith("…")


def test_answers_are_stacked_as_shares_in_likert_order():
    distribution = pd.DataFrame(
        {
            "item": [1, 1],
            "statement": ["I would use it often.", "I would use it often."],
            "answer": [1, 5],
            "count": [2, 3],
        }
    )
    spec = item_distribution_chart(distribution).to_dict()
    assert spec["encoding"]["x"]["stack"] == "normalize"
    order = [f"{answer} · {label}" for answer, label in LIKERT_LABELS.items()]
    assert spec["encoding"]["color"]["scale"]["domain"] == order


def test_the_nps_split_shows_the_three_groups_on_a_percent_axis():
    split = {"detractors": 1, "passives": 2, "promoters": 7}
    split |= {f"{group}_percent": 10.0 * split[group] for group in NPS_GROUPS}
    spec = nps_split_chart(split).to_dict()
    assert spec["encoding"]["x"]["scale"]["domain"] == [0, 100]
    assert spec["encoding"]["y"]["sort"] == list(NPS_GROUPS)
    (dataset,) = spec["datasets"].values()
    assert [row["percent"] for row in dataset] == [10.0, 20.0, 70.0]


def test_the_trend_draws_three_measures_and_the_sus_interval():
    trend = pd.DataFrame(
        {
            "year": [2025, 2026],
            "sus_mean": [62.0, 71.5],
            "nps": [5.0, None],
            "csat_pct": [80.0, 85.0],
            "sus_low": [55.0, 65.0],
            "sus_high": [69.0, 78.0],
        }
    )
    spec = trend_chart(trend).to_dict()
    lines, interval = spec["layer"]
    assert lines["mark"]["type"] == "line"
    assert interval["encoding"]["y2"]["field"] == "sus_high"
    assert lines["encoding"]["color"]["scale"]["domain"] == ["SUS mean", "NPS", "CSAT %"]
