"""ui.charts.show_chart: a chart is built once per distinct input and drawn as st.altair_chart
draws it."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from reports import monitoring_charts


@pytest.fixture(autouse=True)
def fresh_chart_cache():
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def metric_page() -> None:
    import streamlit as st

    from reports.monitoring_charts import chart_frame, metric_chart
    from tests.reports.test_monitoring_charts import series
    from ui.charts import show_chart

    show_chart(metric_chart, chart_frame(series(st.session_state.get("days", 3))), "open_time_s")


def both_ways_page() -> None:
    """Every chart twice: first as st.altair_chart draws it, then through show_chart."""
    from datetime import UTC, datetime

    import pandas as pd
    import streamlit as st

    from reports.monitoring_charts import chart_frame, metric_chart, small_multiples
    from reports.survey_charts import nps_split_chart
    from tests.reports.test_monitoring_charts import series
    from ui.case_conversation import timeline_chart
    from ui.charts import show_chart

    events = pd.DataFrame(
        {
            "at": pd.to_datetime(
                ["2026-10-01 08:00", "2026-10-01 09:30", "2026-10-01 10:00"], utc=True
            ),
            "kind": ["status", "public_reply", "status"],
            "actor": ["dana", "lukas", "lukas"],
            "from_status": [None, None, "new"],
            "to_status": ["new", None, "in_progress"],
        }
    )
    split = {"promoters": 3, "passives": 1, "detractors": 1}
    split |= {f"{group}_percent": 100 * n / 5 for group, n in list(split.items())}
    charts = [
        (metric_chart, (chart_frame(series()), "open_time_s", 220), "stretch"),
        (small_multiples, (chart_frame(series()),), "stretch"),
        (nps_split_chart, (split,), "content"),
        (
            timeline_chart,
            (events, datetime(2026, 10, 1, 11, tzinfo=UTC), "Asia/Kolkata"),
            "stretch",
        ),
    ]
    for build, args, width in charts:
        st.altair_chart(build(*args), width=width)
        show_chart(build, *args, width=width)


def charts(at: AppTest) -> list:
    return list(at.get("arrow_vega_lite_chart")) + list(at.get("vega_lite_chart"))


def test_a_chart_is_built_once_per_distinct_data(monkeypatch):
    builds = []
    layers = monitoring_charts.metric_layers

    def counted_layers(unit: str):
        builds.append(unit)
        return layers(unit)

    monkeypatch.setattr(monitoring_charts, "metric_layers", counted_layers)
    at = AppTest.from_function(metric_page, default_timeout=30).run()
    first = charts(at)[0].proto
    at.run()
    assert not at.exception
    assert len(builds) == 1  # the rerun drew the same chart without building it
    assert charts(at)[0].proto == first

    at.session_state["days"] = 2
    at.run()
    assert len(builds) == 2  # new data: built again
    assert charts(at)[0].proto.datasets[0].data.data != first.datasets[0].data.data


def test_the_drawn_chart_is_the_one_st_altair_chart_draws():
    at = AppTest.from_function(both_ways_page, default_timeout=30).run()
    assert not at.exception
    drawn = charts(at)
    assert len(drawn) == 8
    for direct, cached in zip(drawn[::2], drawn[1::2], strict=True):
        spec = json.loads(cached.proto.spec)
        assert {"mark", "encoding", "layer", "facet"} & spec.keys()
        assert spec == json.loads(direct.proto.spec)
        assert cached.proto == direct.proto  # spec, Arrow datasets, theme: the same bytes


def test_pages_draw_altair_charts_only_through_show_chart():
    root = Path(__file__).resolve().parents[2]
    offenders = [
        f"{path.relative_to(root)}:{node.lineno}"
        for path in [*sorted((root / "pages").glob("*.py")), *sorted((root / "ui").glob("*.py"))]
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr == "altair_chart"
    ]
    assert offenders == []


def test_a_builder_is_checked_against_the_schema_until_it_passes_then_converted_the_same(
    monkeypatch,
):
    import altair as alt
    import pandas as pd
    from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec

    from ui import charts as ui_charts

    def bars(values):
        return alt.Chart(pd.DataFrame({"x": values})).mark_bar().encode(x="x:Q")

    checks: list[bool] = []
    to_dict = alt.Chart.to_dict

    def watched(self, validate=True, **kwargs):
        checks.append(validate)
        if validate and len(checks) == 1:
            raise ValueError("the schema check failed")
        return to_dict(self, validate=validate, **kwargs)

    monkeypatch.setattr(alt.Chart, "to_dict", watched)
    with pytest.raises(ValueError, match="schema check"):
        ui_charts.vega_lite_spec("a", bars, ([1, 2],))
    ui_charts.vega_lite_spec("b", bars, ([1, 2],))  # checked again, and passes
    later = ui_charts.vega_lite_spec("c", bars, ([3, 4, 5],))  # not checked again
    assert checks == [True, True, False]
    assert later == _convert_altair_to_vega_lite_spec(bars([3, 4, 5]))
