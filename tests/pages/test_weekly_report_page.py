"""The Weekly report page under AppTest, per role: table, trend chart, scope and the CSV."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pandas as pd
import pytest
import streamlit as st
from sqlmodel import Session, select
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from data_access.models import Customer, ModelMetricDaily, User
from data_access.weekly_report import enrolled_models, weekly_report
from domain.csv_safe import csv_bytes
from domain.weekly import GRANULARITIES, week_option_label
from tests.pages.conftest import db_engine, page_path, signed_in

PAGE = "weekly_report.py"
# The small seed's daily figures end on Sunday 1 Nov 2026: this is its last complete week.
WEEK = date(2026, 10, 26)


def open_page(username: str, customer_id: int | None = None, week: date | None = WEEK) -> AppTest:
    st.cache_data.clear()
    at = signed_in(username)
    at.run()
    at.switch_page(page_path(PAGE))
    if customer_id is not None:
        at.query_params["customer"] = str(customer_id)
    if week is not None:
        at.query_params["week"] = week.isoformat()
    at.run()
    assert not at.exception, at.exception
    return at


def customers_with(username: str | None = None, tier: str | None = None) -> list[Customer]:
    with Session(db_engine()) as session:
        statement = select(Customer).order_by(Customer.name)
        if tier is not None:
            statement = statement.where(Customer.tier == tier)
        everyone = session.exec(statement).all()
        if username is None:
            return everyone
        me = session.exec(select(User.id).where(User.username == username)).one()
    return [c for c in everyone if me in (c.csm_id, c.hypercare_resource_id)]


def reporting_customer(username: str | None = None) -> Customer:
    """A customer of `username` (anyone's if None) with enrolled models that have figures."""
    with Session(db_engine()) as session:
        for customer in customers_with(username):
            models = enrolled_models(session=session, customer_id=customer.id)
            if (
                models["reported"].any()
                and session.exec(
                    select(ModelMetricDaily.model_id).where(
                        ModelMetricDaily.model_id.in_([int(i) for i in models["id"]]),
                        ModelMetricDaily.day == WEEK,
                    )
                ).first()
            ):
                return customer
    raise AssertionError("the seed has no customer with weekly figures")


def charts(at: AppTest) -> list:
    return list(at.get("arrow_vega_lite_chart")) + list(at.get("vega_lite_chart"))


def chart_lines(at: AppTest) -> pd.DataFrame:
    """The trend chart's plotted rows (the dataset that has an entity per line)."""
    (chart,) = charts(at)
    frames = [convert_arrow_bytes_to_pandas_df(d.data.data) for d in chart.proto.datasets]
    return next(frame for frame in frames if "entity_id" in frame)


def shown_table(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value


def test_manager_sees_the_model_table_and_a_trend_chart():
    customer = reporting_customer()
    at = open_page("manager", customer.id)
    assert not at.error
    assert at.selectbox(key="weekly_week").value == WEEK
    assert week_option_label(WEEK) in at.selectbox(key="weekly_week").options
    table = shown_table(at)
    with Session(db_engine()) as session:
        expected = weekly_report(
            session=session, customer_id=customer.id, week_start=WEEK, granularity="model"
        )
    assert list(table["Model"]) == list(expected["entity"])
    assert list(table["Times accessed"]) == list(expected["times_accessed"])
    assert list(table["Open time (s)"]) == pytest.approx(list(expected["open_time_s"].round(1)))
    assert list(table["Users"]) == list(expected["users"])
    assert table["Changes Δ"].str.match(r"^([▲▼] \d+\.\d %|0\.0 %|)$").all()
    assert len(charts(at)) == 1
    assert at.get("download_button")


@pytest.mark.parametrize("granularity", list(GRANULARITIES))
def test_every_granularity_renders_its_table(granularity):
    customer = reporting_customer()
    at = open_page("manager", customer.id)
    at.segmented_control(key="weekly_granularity").set_value(granularity).run()
    assert not at.exception, at.exception
    table = shown_table(at)
    assert table.columns[0] == GRANULARITIES[granularity].entity_label
    assert len(table) > 0
    lines = chart_lines(at)
    # Dashboards (and models in different workspaces) share names; each still gets its own line.
    assert lines["entity"].nunique() == lines["entity_id"].nunique() <= 10
    contexts = table.iloc[:, 1]
    if table.columns[0] == "Dashboard":  # a dashboard is told apart by its workspace and model
        contexts = table["Workspace"] + " · " + contexts
    assert set(lines["entity"]) <= {
        f"{name} ({context})" if context else name
        for name, context in zip(table.iloc[:, 0], contexts, strict=True)
    } | set(table.iloc[:, 0])


def test_the_csv_download_is_the_table_shown(downloads):
    customer = reporting_customer()
    at = open_page("manager", customer.id)
    at.segmented_control(key="weekly_granularity").set_value("container").run()
    csvs = [(data, name) for data, mime, name in downloads if mime == "text/csv"]
    data, name = csvs[-1]
    assert name == f"weekly-report-{customer.id}-{WEEK.isoformat()}-container.csv"
    table = shown_table(at)
    assert len(table) > 0
    assert data == csv_bytes(table)
    assert list(pd.read_csv(io.BytesIO(data)).columns) == list(table.columns)


def test_csm_picks_only_own_customers():
    own = customers_with("csm.emea")
    others = [c for c in customers_with() if c.id not in {o.id for o in own}]
    at = open_page("csm.emea")
    assert set(at.selectbox(key="weekly_customer").options) == {c.name for c in own}
    at = open_page("csm.emea", others[0].id)
    assert "not in your portfolio" in " ".join(w.value for w in at.warning)
    assert others[0].name not in at.subheader[0].value
    assert at.selectbox(key="weekly_customer").value in {c.id for c in own}


def test_csm_sees_own_customers_report():
    customer = reporting_customer("csm.emea")
    at = open_page("csm.emea", customer.id)
    assert not at.warning
    assert at.subheader[0].value.startswith(customer.name)
    assert len(shown_table(at)) > 0


def test_admin_opens_the_page():
    at = open_page("admin", reporting_customer().id)
    assert not at.error
    assert len(shown_table(at)) > 0


def test_survey_staff_cannot_open_the_page():
    at = signed_in("surveys", page_path(PAGE))
    at.run()
    assert [e.value for e in at.error] == ["Your role does not give access to this page."]
    assert not at.dataframe and not at.title


def test_basic_customer_explains_there_is_no_weekly_report():
    customer = customers_with(tier="basic")[0]
    at = open_page("manager", customer.id)
    assert "has no weekly report" in " ".join(i.value for i in at.info)
    assert not at.dataframe and not charts(at)


def metric_value(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_times_accessed_reconcile_across_every_granularity():
    customer = reporting_customer()
    at = open_page("manager", customer.id)
    totals = {}
    for granularity in GRANULARITIES:
        at.segmented_control(key="weekly_granularity").set_value(granularity).run()
        assert not at.exception, at.exception
        totals[granularity] = metric_value(at, "Times accessed, all rows")
        assert not [c.value for c in at.caption if "account for" in c.value]
    assert len(set(totals.values())) == 1, totals


def test_the_container_view_names_each_dashboards_workspace():
    customer = reporting_customer()
    at = open_page("manager", customer.id)
    at.segmented_control(key="weekly_granularity").set_value("container").run()
    table = shown_table(at)
    with Session(db_engine()) as session:
        expected = weekly_report(
            session=session, customer_id=customer.id, week_start=WEEK, granularity="container"
        )
    assert list(table["Workspace"]) == list(expected["workspace"])
    assert table["Workspace"].notna().all()


def test_a_week_in_progress_is_compared_with_the_same_days_before(monkeypatch):
    thursday = WEEK + timedelta(days=3)  # Monday to Wednesday of WEEK are over
    monkeypatch.setattr("domain.weekly.today_in", lambda timezone, now: thursday)
    customer = reporting_customer()
    at = open_page("manager", customer.id, week=None)
    assert at.selectbox(key="weekly_week").value == WEEK - timedelta(days=7)  # last complete
    at = open_page("manager", customer.id, week=WEEK)
    assert at.selectbox(key="weekly_week").value == WEEK
    with Session(db_engine()) as session:
        expected = weekly_report(
            session=session,
            customer_id=customer.id,
            week_start=WEEK,
            granularity="model",
            today=thursday,
        )
    table = shown_table(at)
    assert list(table["Times accessed"]) == list(expected["times_accessed"])
    assert (expected["days"] <= 3).all() and (expected["days_prev"] <= 3).all()
    now = expected["times_accessed"].sum()
    before = expected["times_accessed_prev"].sum()
    delta = next(m for m in at.metric if m.label == "Times accessed, all rows").delta
    assert delta == f"{(now - before) / before * 100:+.1f} % on the same days of the week before"
    assert any("Mon–Wed" in s.value for s in at.subheader)
