"""Altair's channel conversion with its class index built once: the same specs as Altair's own."""

from __future__ import annotations

from datetime import UTC, datetime

import altair as alt
import pandas as pd
import pytest
from altair.utils import schemapi

import reports  # noqa: F401  (installs the patch)
from reports import altair_speed
from reports.monitoring_charts import chart_frame, small_multiples
from tests.reports.test_monitoring_charts import series
from ui.case_conversation import timeline_chart


@pytest.fixture
def unpatched(monkeypatch):
    """Altair's own `from_dict` for the duration of a test."""
    monkeypatch.setattr(
        schemapi.SchemaBase, "from_dict", classmethod(altair_speed.ALTAIR_FROM_DICT.__func__)
    )


def layered_chart() -> alt.LayerChart:
    """Channels as shorthand strings, `alt.value`, lists of tooltips and a layer: each kind that
    goes through `from_dict`."""
    frame = pd.DataFrame({"day": pd.date_range("2026-10-01", periods=3, tz=UTC), "n": [1, 5, 2]})
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(x="day:T", y="n:Q", color=alt.value("#1F6FEB"), tooltip=["day:T", "n:Q"])
    )
    rule = alt.Chart(frame).mark_rule().encode(y="mean(n):Q", size=alt.value(2))
    return (bars + rule).properties(height=120)


def events() -> pd.DataFrame:
    at = pd.date_range(datetime(2026, 11, 29, tzinfo=UTC), periods=4, freq="h")
    return pd.DataFrame(
        {
            "at": at,
            "kind": ["status", "public_reply", "status", "status"],
            "from_status": [None, None, "new", "open"],
            "to_status": ["new", None, "open", "pending_customer"],
            "actor": ["Ana", "Ana", "Ben", "Ben"],
            "note": ["", "", "", ""],
        }
    )


CHARTS = {
    "layered": layered_chart,
    "case timeline": lambda: timeline_chart(
        events(), pd.Timestamp("2026-11-29 06:00", tz=UTC), "Europe/London"
    ),
    "monitoring small multiples": lambda: small_multiples(chart_frame(series())),
}


@pytest.mark.parametrize("name", CHARTS)
def test_a_chart_has_the_spec_altair_itself_makes(name, request):
    patched = CHARTS[name]().to_dict()
    request.getfixturevalue("unpatched")
    assert CHARTS[name]().to_dict() == patched


def index_builds(monkeypatch) -> list[int]:
    """Grows by one each time Altair builds a class index (`_FromDict`) from now on."""
    built: list[int] = []
    original = schemapi._FromDict.__init__

    def counting(self, *args):
        built.append(1)
        original(self, *args)

    monkeypatch.setattr(schemapi._FromDict, "__init__", counting)
    return built


def test_the_class_index_is_built_once_for_many_charts(monkeypatch):
    layered_chart()  # the index built by an earlier chart, or now
    built = index_builds(monkeypatch)
    for _ in range(3):
        layered_chart().to_dict()
    assert built == []


def test_altair_without_the_patch_builds_the_index_for_every_channel(monkeypatch, unpatched):
    """The cost the patch removes, so that this test fails if Altair stops paying it (and the
    patch can go)."""
    built = index_builds(monkeypatch)
    layered_chart()
    assert len(built) >= 5
