"""The case queue and case detail pages under AppTest: order, scope, URL filters and actions."""

from __future__ import annotations

import pytest
from sqlalchemy import delete
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from data_access.case_commands import open_case, record_case_event
from data_access.models import Case, CaseEvent, Customer, TierPolicyRow, User
from domain.lifecycle import OPEN_STATUSES
from tests.pages.conftest import db_engine, page_path, signed_in


def queue_page(username: str, **query: str) -> AppTest:
    at = signed_in(username)
    at.run()
    at.switch_page(page_path("case_queue.py"))
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception
    return at


def case_page(username: str, case_id: int) -> AppTest:
    at = signed_in(username)
    at.run()
    at.switch_page(page_path("case.py"))
    at.query_params["id"] = str(case_id)
    at.run()
    assert not at.exception
    return at


def table(at: AppTest):
    return at.dataframe[0].value


def page_text(at: AppTest) -> str:
    parts = [
        e.value
        for kind in ("markdown", "title", "caption", "header", "subheader", "text")
        for e in at.get(kind)
    ]
    return " ".join(str(p) for p in parts)


def own_customer_ids(session: Session, username: str) -> set[int]:
    me = session.exec(select(User.id).where(User.username == username)).one()
    return set(
        session.exec(
            select(Customer.id).where(
                (Customer.csm_id == me) | (Customer.hypercare_resource_id == me)
            )
        ).all()
    )


def open_case_ids(session: Session, customer_ids: set[int] | None = None) -> set[int]:
    statement = select(Case.id).where(Case.status.in_(OPEN_STATUSES))
    if customer_ids is not None:
        statement = statement.where(Case.customer_id.in_(customer_ids))
    return set(session.exec(statement).all())


@pytest.fixture
def own_case():
    """A case of a csm.emea customer, created for one test and deleted afterwards."""
    engine = db_engine()
    with Session(engine) as session:
        customer_id = min(own_customer_ids(session, "csm.emea"))
        case = open_case(
            session=session,
            actor="csm.emea",
            customer_id=customer_id,
            subject="Page test: planning model will not open",
            severity=2,
            channel="email",
        )
        session.commit()
        case_id = case.id
    yield case_id
    with engine.begin() as connection:
        connection.execute(delete(CaseEvent).where(CaseEvent.case_id == case_id))
        connection.execute(delete(Case).where(Case.id == case_id))


def test_manager_sees_the_whole_queue_in_order_with_a_summary_strip():
    at = queue_page("manager")
    assert at.title[0].value == "Case queue"
    rows = table(at)
    with Session(db_engine()) as session:
        assert set(rows["case_id"]) == open_case_ids(session)
        tiers = session.exec(select(TierPolicyRow.label)).all()
    assert list(rows["queue_position"]) == list(range(1, len(rows) + 1))
    metrics = {}
    for metric in at.metric:
        metrics.setdefault(metric.label, []).append(metric.value)
    assert set(metrics) == {"Open", "At risk", "Breached", "First response met"}
    assert len(metrics["Open"]) == len(tiers)
    assert sum(int(value) for value in metrics["Open"]) == len(rows)
    assert sum(int(value) for value in metrics["Breached"]) == (
        rows["state"].isin(["🔴 Breached", "🔴 Respond now"]).sum()
    )
    assert (
        rows["countdown"]
        .str.match(
            r"^(.+ left|overdue by .+|Paused: .+|Excluded: .+|Respond now · open .+|due now)$"
        )
        .all()
    )
    assert at.get("download_button")
    text = page_text(at)
    assert "guideline" in text and "guarantee" not in text.lower()


def test_csm_sees_only_their_customers_cases():
    at = queue_page("csm.emea")
    with Session(db_engine()) as session:
        own = own_customer_ids(session, "csm.emea")
        expected = open_case_ids(session, own)
        names = {c.name for c in session.exec(select(Customer)).all() if c.id in own}
    rows = table(at)
    assert expected and set(rows["case_id"]) == expected
    assert set(rows["customer"]) <= names
    assert list(rows["queue_position"]) == list(range(1, len(rows) + 1))


def test_query_params_filter_the_table_and_widgets_write_back():
    everything = table(queue_page("manager"))
    at = queue_page("manager", severity="4")
    rows = table(at)
    assert 0 < len(rows) < len(everything)
    assert set(rows["severity_label"]) == {"Sev 4 – low"}
    assert at.multiselect(key="filter_severity").value == ["4"]
    # Changing a filter puts it in the URL, so the view can be shared.
    at.multiselect(key="filter_status").select("open").run()
    assert at.query_params["status"] == "open"
    assert at.query_params["severity"] == "4"
    assert set(table(at)["status_label"]) == {"Open"}

    one = int(everything["case_id"].iloc[-1])
    at = queue_page("manager", q=f"#{one}")
    assert list(table(at)["case_id"]) == [one]
    assert at.text_input(key="filter_q").value == f"#{one}"


def test_clock_state_and_unknown_values_in_the_url():
    at = queue_page("manager", clock="paused", severity="9")
    rows = table(at)
    assert len(rows) and set(rows["status_label"]) == {"Pending customer"}
    assert at.multiselect(key="filter_severity").value == []


def test_a_filter_with_no_match_says_so():
    at = queue_page("manager", q="no case is called this")
    assert not at.dataframe
    assert [i.value for i in at.info] == ["No open case matches these filters."]


def test_selecting_a_row_opens_that_case():
    at = queue_page("manager", severity="4")
    rows = table(at)
    at.session_state["queue_table"] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    chosen = int(rows["case_id"].iloc[1])
    assert at.title[0].value.startswith(f"#{chosen} ")
    assert at.query_params == {"id": str(chosen)}
    # The queue's filters are kept for the way back.
    assert at.session_state["queue_url"] == {"severity": ["4"]}


def test_case_number_box_opens_the_case(own_case):
    at = queue_page("csm.emea")
    box = next(t for t in at.text_input if t.label == "Case number")
    box.input(str(own_case))
    next(b for b in at.button if b.label == "Open").click()
    at.run()
    assert not at.exception
    assert at.title[0].value.startswith(f"#{own_case} ")


def test_case_detail_shows_clocks_contacts_and_timeline(own_case):
    at = case_page("csm.emea", own_case)
    assert at.title[0].value == f"#{own_case} Page test: planning model will not open"
    text = page_text(at)
    assert "First response" in text and "Resolution guideline" in text
    assert "left" in text and "Due " in text
    assert "prefers" in text and "HyperCare resource" in text
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    timeline = at.dataframe[0].value
    assert list(timeline["change"]) == [" → New"]
    assert {b.label for b in at.button} >= {"Send first public reply", "Solve", "Assign"}
    assert "Set pending customer" not in {b.label for b in at.button}


def test_actions_write_events_and_a_race_shows_one_sentence(own_case):
    at = case_page("csm.emea", own_case)
    at.text_area[0].input("We are on it.")
    next(b for b in at.button if b.label == "Send first public reply").click()
    at.run()
    assert not at.exception and not at.error
    next(b for b in at.button if b.label == "Set pending customer").click()
    at.run()
    assert not at.error
    next(b for b in at.button if b.label == "Back to open").click()
    at.run()
    assert not at.error
    with Session(db_engine()) as session:
        events = session.exec(
            select(CaseEvent).where(CaseEvent.case_id == own_case).order_by(CaseEvent.id)
        ).all()
        case = session.get(Case, own_case)
        me = session.exec(select(User.id).where(User.username == "csm.emea")).one()
    assert [(e.kind, e.to_status) for e in events] == [
        ("status", "new"),
        ("public_reply", None),
        ("status", "open"),
        ("status", "pending_customer"),
        ("status", "open"),
    ]
    assert events[1].note == "We are on it." and events[1].actor_id == me
    assert case.status == "open" and case.first_response_at is not None
    assert "Timeline" in page_text(at)
    assert len(at.dataframe[0].value) == len(events)

    # Someone else solves the case while this page still offers "Set pending customer".
    with Session(db_engine()) as session:
        record_case_event(
            session=session, case_id=own_case, actor_id=me, actor="csm.emea", action="solve"
        )
        session.commit()
    next(b for b in at.button if b.label == "Set pending customer").click()
    at.run()
    assert [e.value for e in at.error] == ["Only an open case can be set to pending the customer."]
    with Session(db_engine()) as session:
        assert session.get(Case, own_case).status == "solved"


def test_csm_cannot_open_another_customers_case():
    with Session(db_engine()) as session:
        own = own_customer_ids(session, "csm.emea")
        other = session.exec(
            select(Case).where(Case.customer_id.not_in(own)).order_by(Case.id)
        ).first()
    at = case_page("csm.emea", other.id)
    assert [w.value for w in at.warning] == [
        "That case is not in your portfolio, or it does not exist."
    ]
    assert other.subject not in page_text(at)
    assert not at.dataframe and not at.metric


def test_queue_is_empty_for_a_csm_without_customers():
    from data_access.users import UserCreate, create_user

    engine = db_engine()
    with Session(engine) as session:
        create_user(
            session=session,
            actor="admin",
            user_create=UserCreate(
                username="csm.newhire",
                name="New Hire",
                email="new.hire@example.com",
                password="a-Long-password-42",
                roles=("csm",),
            ),
        )
        session.commit()
    try:
        at = queue_page("csm.newhire")
        assert [i.value for i in at.info] == [
            "No open cases for your customers: nothing is waiting."
        ]
        assert not at.dataframe
    finally:
        with engine.begin() as connection:
            connection.execute(delete(User).where(User.username == "csm.newhire"))
