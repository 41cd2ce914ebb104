"""QBR charts: each kind the figures emit builds a self-contained, fixed-width Altair chart."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest
import vl_convert

from domain.qbr import Chart
from reports.qbr_charts import WIDTH, build_chart

WEEKS = [date(2026, 3, 30), date(2026, 4, 6)]
CHARTS = {
    "cases_weekly": pd.DataFrame(
        {
            "week_start": [WEEKS[0], WEEKS[0], WEEKS[1]],
            "severity": ["Sev 1 – critical", "Sev 3 – medium", "Sev 3 – medium"],
            "cases": [1, 2, 0],
        }
    ),
    "usage_small_multiples": pd.DataFrame(
        {
            "week_start": WEEKS * 3,
            "measure": ["Model open time (s)"] * 2 + ["Users"] * 2 + ["Changes"] * 2,
            "value": [20.0, 21.5, 8, 10, 110, 50],
        }
    ),
    "alerts_by_metric": pd.DataFrame(
        {
            "metric": ["Model open time", "Model open time", "Users", "Changes"],
            "severity": ["Minor", "Major", "Critical", "Minor"],
            "alerts": [1, 1, 1, 0],
        }
    ),
    "coe_percentiles": pd.DataFrame(
        {"metric": ["Certified model builders", "Workspaces"], "percentile": [29.0, 71.0]}
    ),
}


def _widths(spec: dict) -> list[int]:
    """The width of every view in a (possibly concatenated or layered) specification."""
    found = [spec["width"]] if "width" in spec else []
    for key in ("vconcat", "hconcat", "layer"):
        for part in spec.get(key, []):
            found += _widths(part)
    return found


def _inline_rows(spec: dict) -> int:
    return sum(len(rows) for rows in spec.get("datasets", {}).values())


@pytest.mark.parametrize("kind", sorted(CHARTS))
def test_each_kind_builds_a_self_contained_chart_of_fixed_width(kind):
    spec = build_chart(Chart(kind=kind, title=kind, data=CHARTS[kind])).to_dict()
    json.dumps(spec)  # data inline and serialisable, as the PDF hands it to vl-convert
    assert _inline_rows(spec) > 0
    assert "url" not in json.dumps(spec.get("data", {}))
    assert _widths(spec) and set(_widths(spec)) == {WIDTH}
    assert spec["config"]["axis"]["labelFontSize"] >= 14
    assert vl_convert.vegalite_to_svg(spec).startswith("<svg")


def test_alert_chart_leaves_out_metrics_without_alerts():
    spec = build_chart(
        Chart(kind="alerts_by_metric", title="", data=CHARTS["alerts_by_metric"])
    ).to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert {row["metric"] for row in rows} == {"Model open time", "Users"}


def test_usage_has_one_panel_per_measure():
    spec = build_chart(
        Chart(kind="usage_small_multiples", title="", data=CHARTS["usage_small_multiples"])
    ).to_dict()
    assert [panel["title"] for panel in spec["vconcat"]] == [
        "Model open time (s)",
        "Users",
        "Changes",
    ]


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="No QBR chart of kind 'pie'"):
        build_chart(Chart(kind="pie", title="", data=pd.DataFrame()))
