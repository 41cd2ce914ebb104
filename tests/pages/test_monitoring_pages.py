"""The Monitoring and Metric upload pages under AppTest, per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import streamlit as st
from sqlalchemy import delete, func
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from data_access.models import (
    Alert,
    AlertContactLog,
    Contact,
    Customer,
    ModelMetricDaily,
    PlanningModel,
    User,
)
from domain.monitoring import METRICS
from tests.conftest import SEED_TODAY
from tests.pages.conftest import db_engine, page_path, signed_in

MONITORING = "monitoring.py"
UPLOAD = "metric_upload.py"
OPENED_ON = SEED_TODAY - timedelta(days=3)


@dataclass
class PlantedAlerts:
    own: int  # an alert of one of csm.emea's customers
    other: int  # an alert of a customer csm.emea does not look after
    own_customer: str
    other_customer: str
    own_contact: str


def monitored_model(session: Session, customer_ids: list[int]) -> PlanningModel:
    return session.exec(
        select(PlanningModel)
        .where(
            PlanningModel.customer_id.in_(customer_ids),
            PlanningModel.is_production,
            PlanningModel.in_monitoring,
        )
        .order_by(PlanningModel.id)
    ).first()


def plant(session: Session, model: PlanningModel, metric: str, direction: str) -> Alert:
    contact = session.exec(
        select(Contact)
        .where(Contact.customer_id == model.customer_id)
        .order_by(Contact.is_primary.desc(), Contact.id)
    ).first()
    alert = Alert(
        model_id=model.id,
        customer_id=model.customer_id,
        metric=metric,
        direction=direction,
        opened_on=OPENED_ON,
        value=500.0 if direction == "above" else 2.0,
        baseline=120.0 if direction == "above" else 40.0,
        lower=90.0 if direction == "above" else 30.0,
        upper=150.0 if direction == "above" else 50.0,
        contact_id=contact.id,
        channel=contact.preferred_channel,
    )
    session.add(alert)
    session.flush()
    return alert


@pytest.fixture
def planted() -> Iterator[PlantedAlerts]:
    """Two alerts in the shared app database, removed afterwards with anything logged on them."""
    engine = db_engine()
    with Session(engine) as session:
        me = session.exec(select(User.id).where(User.username == "csm.emea")).one()
        customers = session.exec(select(Customer).order_by(Customer.id)).all()
        own = [c.id for c in customers if me in (c.csm_id, c.hypercare_resource_id)]
        other = [c.id for c in customers if me not in (c.csm_id, c.hypercare_resource_id)]
        own_model = monitored_model(session, own)
        other_model = monitored_model(session, other)
        own_alert = plant(session, own_model, "processing_s", "above")
        other_alert = plant(session, other_model, "users", "below")
        names = {c.id: c.name for c in customers}
        planted = PlantedAlerts(
            own=own_alert.id,
            other=other_alert.id,
            own_customer=names[own_model.customer_id],
            other_customer=names[other_model.customer_id],
            own_contact=session.get(Contact, own_alert.contact_id).name,
        )
        session.commit()
    st.cache_data.clear()
    try:
        yield planted
    finally:
        with engine.begin() as connection:
            ids = [planted.own, planted.other]
            connection.execute(delete(AlertContactLog).where(AlertContactLog.alert_id.in_(ids)))
            connection.execute(delete(Alert).where(Alert.id.in_(ids)))
        st.cache_data.clear()


def open_page(username: str, page: str = MONITORING, alert_id: int | None = None) -> AppTest:
    st.cache_data.clear()  # AppTest shares this process's cache; tests write around the page
    at = signed_in(username)
    at.run()
    at.switch_page(page_path(page))
    if alert_id is not None:
        at.query_params["alert"] = str(alert_id)
    at.run()
    assert not at.exception, at.exception
    return at


def inbox_frame(at: AppTest):
    return next(frame.value for frame in at.dataframe if "severity_label" in frame.value.columns)


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def keyed(widgets, name: str, alert_id: int):
    """The contact or close form's widget `name` for `alert_id` (keys carry the alert)."""
    return next(w for w in widgets if w.key and w.key.startswith(f"{name}_{alert_id}_"))


def alert_row(alert_id: int) -> Alert:
    with Session(db_engine()) as session:
        return session.get(Alert, alert_id)


def test_a_csm_sees_only_own_customers_alerts(planted):
    at = open_page("csm.emea")
    inbox = inbox_frame(at)
    assert planted.own in set(inbox["id"]) and planted.other not in set(inbox["id"])
    assert planted.other_customer not in set(inbox["customer"])
    assert not at.error


def test_a_manager_sees_every_alert_and_can_filter_by_customer(planted):
    at = open_page("manager")
    assert {planted.own, planted.other} <= set(inbox_frame(at)["id"])
    at.multiselect(key="inbox_customers").set_value([planted.other_customer]).run()
    assert set(inbox_frame(at)["customer"]) == {planted.other_customer}
    at.multiselect(key="inbox_severity").set_value(["minor"]).run()
    assert not any("severity_label" in f.value.columns for f in at.dataframe)
    assert "No alert matches these filters." in [i.value for i in at.info]


def test_survey_staff_cannot_open_monitoring_nor_a_csm_the_upload():
    denied = signed_in("surveys", page_path(MONITORING))
    denied.run()
    assert [e.value for e in denied.error] == ["Your role does not give access to this page."]
    assert not denied.dataframe
    csm = signed_in("csm.emea", page_path(UPLOAD))
    csm.run()
    assert [e.value for e in csm.error] == ["Your role does not give access to this page."]
    assert not csm.file_uploader


def test_recording_a_contact_moves_the_alert_to_contacted_and_logs_it(planted):
    at = open_page("csm.emea", alert_id=planted.own)
    assert at.selectbox(key="alert_picker").value == planted.own
    channel = keyed(at.selectbox, "contact_channel", planted.own)
    assert channel.value == alert_row(planted.own).channel
    outcome = keyed(at.text_area, "contact_outcome", planted.own)
    outcome.input("Customer confirmed a large import; no action.")
    button(at, "Log the contact").click().run()
    assert not at.exception and not at.error
    assert "The contact is logged." in [s.value for s in at.success]
    assert alert_row(planted.own).state == "contacted"
    with Session(db_engine()) as session:
        log = session.exec(
            select(AlertContactLog).where(AlertContactLog.alert_id == planted.own)
        ).one()
    assert log.contact_name == planted.own_contact
    assert log.outcome == "Customer confirmed a large import; no action."


def test_a_contact_without_outcome_is_refused_with_one_sentence(planted):
    at = open_page("csm.emea", alert_id=planted.own)
    button(at, "Log the contact").click().run()
    assert [e.value for e in at.error] == [
        "Say what came of the contact (the outcome is required)."
    ]
    assert alert_row(planted.own).state == "new"


def test_closing_needs_a_reason_then_dismisses(planted):
    at = open_page("manager", alert_id=planted.other)
    button(at, "Close the alert").click().run()
    assert [e.value for e in at.error] == ["Give a reason for closing the alert."]
    keyed(at.radio, "close_state", planted.other).set_value("dismissed")
    keyed(at.text_area, "close_reason", planted.other).input(
        "Public holiday in the customer's region."
    )
    button(at, "Close the alert").click().run()
    closed = alert_row(planted.other)
    assert closed.state == "dismissed"
    assert closed.close_reason == "Public holiday in the customer's region."


def test_closed_alerts_are_shown_when_their_state_is_chosen(planted):
    """The inbox reads open alerts by default; a closed one appears once its state is picked."""
    with Session(db_engine()) as session:
        alert = session.get(Alert, planted.other)
        alert.state, alert.close_reason = "resolved", "Recovered."
        session.add(alert)
        session.commit()
    at = open_page("manager")
    assert planted.other not in set(inbox_frame(at)["id"])
    at.multiselect(key="inbox_states").set_value(["resolved"]).run()
    shown = inbox_frame(at)
    assert planted.other in set(shown["id"]) and set(shown["status"]) == {"Resolved"}
    at.multiselect(key="inbox_states").set_value([]).run()  # no state chosen: every state
    assert {planted.own, planted.other} <= set(inbox_frame(at)["id"])


def chart_specs(at: AppTest) -> list[str]:
    return [
        chart.proto.spec for chart in at.get("arrow_vega_lite_chart") + at.get("vega_lite_chart")
    ]


def test_the_charts_show_the_band_for_a_model_and_all_seven_metrics(planted):
    at = open_page("csm.emea", alert_id=planted.own)
    (alert_chart,) = chart_specs(at)  # the charts tab runs only when opened
    assert '"title": "Processing time (s)"' in alert_chart
    assert "chart_metric" not in [box.key for box in at.selectbox]
    at.session_state["tab"] = "Model charts"  # what a click on the tab sends
    at.run()
    assert not at.exception
    specs = chart_specs(at)
    assert len(specs) == 3  # the alert's metric, the chosen metric, the small multiples
    assert all('"type": "area"' in spec and '"type": "rule"' in spec for spec in specs)
    assert '"facet"' in specs[2] and '"metric_label"' in specs[2]
    at.selectbox(key="chart_metric").set_value("users").run()
    assert not at.exception
    assert '"title": "Users (users)"' in chart_specs(at)[1]


def test_the_chart_choice_survives_a_visit_to_the_inbox(planted):
    at = open_page("csm.emea", alert_id=planted.own)
    at.session_state["tab"] = "Model charts"
    at.run()
    at.selectbox(key="chart_metric").set_value("users").run()
    at.selectbox(key="chart_days").set_value(365).run()
    at.session_state["tab"] = "Alert inbox"
    at.run()
    assert "chart_metric" not in [box.key for box in at.selectbox]
    at.session_state["tab"] = "Model charts"
    at.run()
    assert not at.exception and not at.warning
    assert at.selectbox(key="chart_metric").value == "users"
    assert at.selectbox(key="chart_days").value == 365


def csv_bytes(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def upload(at: AppTest, content: bytes) -> AppTest:
    at.file_uploader(key="metric_file").set_value(("metrics.csv", content, "text/csv"))
    at.run()
    button(at, "Check and load").click().run()
    assert not at.exception, at.exception
    return at


def metric_rows(model_id: int) -> int:
    with Session(db_engine()) as session:
        return session.exec(
            select(func.count())
            .select_from(ModelMetricDaily)
            .where(ModelMetricDaily.model_id == model_id)
        ).one()


def test_an_admin_upload_with_a_bad_row_lists_the_lines_and_writes_nothing():
    with Session(db_engine()) as session:
        model = session.exec(
            select(PlanningModel).where(PlanningModel.is_production).order_by(PlanningModel.id)
        ).first()
    before = metric_rows(model.id)
    header = "model_id,day," + ",".join(METRICS)
    at = open_page("admin", UPLOAD)
    upload(
        at,
        csv_bytes(
            header,
            f"{model.id},2020-01-01,1,2,3,4,5,6,7",
            f"{model.id},2020-01-02,1,2,3,4,5.5,6,7",
            f"{model.id},2020-01-03,1,2,3,4,5,6",
        ),
    )
    assert at.error[0].value.startswith("The file was refused and nothing was loaded")
    problems = at.dataframe[-1].value
    assert problems["line"].tolist() == [3, 4]
    assert problems["problem"].tolist() == [
        "times_accessed 5.5 is not a whole number",
        "expected 9 fields as in the header, found 8",
    ]
    assert metric_rows(model.id) == before


def test_an_admin_upload_of_a_good_file_loads_it():
    with Session(db_engine()) as session:
        model = session.exec(
            select(PlanningModel).where(PlanningModel.is_production).order_by(PlanningModel.id)
        ).first()
    before = metric_rows(model.id)
    header = "model_id,model_name,day," + ",".join(METRICS)
    content = csv_bytes(
        header,
        f"{model.id},{model.name},2020-01-01,1.5,2,3,4,5,6,7",
        f"{model.id},,2020-01-02,1.5,,3,4,5,6,7",
    )
    try:
        at = open_page("admin", UPLOAD)
        upload(at, content)
        assert not at.error
        assert at.success[0].value.startswith("Loaded 2 rows for 1 models")
        assert metric_rows(model.id) == before + 2
        upload(at, content)  # the same file again: nothing new
        assert "0 new, 0 changed, 2 already stored" in at.success[0].value
    finally:
        with db_engine().begin() as connection:
            connection.execute(
                delete(ModelMetricDaily).where(
                    ModelMetricDaily.model_id == model.id,
                    ModelMetricDaily.day < SEED_TODAY - timedelta(days=400),
                )
            )
    assert metric_rows(model.id) == before


def test_another_alert_shows_its_own_contacts_and_a_refusal_keeps_the_outcome_by_the_form(planted):
    at = open_page("manager", alert_id=planted.own)
    assert (
        keyed(at.selectbox, "contact_person", planted.own).value
        == alert_row(planted.own).contact_id
    )
    at.selectbox(key="alert_picker").set_value(planted.other).run()
    other = alert_row(planted.other)
    with Session(db_engine()) as session:
        theirs = session.exec(
            select(Contact.name).where(Contact.customer_id == other.customer_id)
        ).all()
    who = keyed(at.selectbox, "contact_person", planted.other)
    assert who.value == other.contact_id
    assert planted.own_contact not in theirs
    assert not any(option.startswith(planted.own_contact + " (") for option in who.options)
    assert all(any(option.startswith(name) for option in who.options) for name in theirs)
    assert keyed(at.selectbox, "contact_channel", planted.other).value == other.channel

    who.set_value(0)
    keyed(at.text_area, "contact_outcome", planted.other).input("Rang the office; left a message.")
    button(at, "Log the contact").click().run()
    assert [e.value for e in at.error] == ["Name the person who was contacted."]
    assert keyed(at.text_area, "contact_outcome", planted.other).value == (
        "Rang the office; left a message."
    )
    beside_the_form = [
        column
        for column in at.columns
        if any(b.label == "Log the contact" for b in column.button) and column.error
    ]
    assert len(beside_the_form) == 1
    assert alert_row(planted.other).state == "new"


def test_the_headline_figures_count_only_the_filtered_alerts(planted):
    at = open_page("manager")
    everything = int(next(m for m in at.metric if m.label == "Open alerts").value)
    at.multiselect(key="inbox_customers").set_value([planted.other_customer]).run()
    shown = inbox_frame(at)
    figure = int(next(m for m in at.metric if m.label == "Open alerts").value)
    assert figure == len(shown) < everything


def test_a_link_opens_the_charts_tab(planted):
    st.cache_data.clear()
    at = signed_in("csm.emea")
    at.run()
    at.switch_page(page_path(MONITORING))
    at.query_params["tab"] = "Model charts"
    at.run()
    assert not at.exception
    assert "chart_metric" in [box.key for box in at.selectbox]
