"""The case queue and case detail pages under AppTest: order, scope, URL filters and actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import streamlit as st
from sqlalchemy import delete
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from data_access.actor import Actor
from data_access.case_commands import open_case, record_case_event
from data_access.models import Case, CaseEvent, Customer, SavedView, TierPolicyRow, User
from domain.lifecycle import OPEN_STATUSES
from tests.pages.conftest import db_engine, page_path, signed_in
from ui.format import plain_markdown


def queue_page(username: str, view: str | None = None, **query: str) -> AppTest:
    """The queue as `username`, with `query` in the URL, and `view` chosen if given."""
    at = signed_in(username)
    at.run()
    at.switch_page(page_path("case_queue.py"))
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception
    if view is not None:
        at.selectbox(key="queue_view").set_value(view).run()
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


def summary(at: AppTest):
    return next(d.value for d in at.dataframe if "fr_met_text" in d.value.columns)


def select_rows(at: AppTest, rows: list[int]) -> AppTest:
    at.session_state["queue_table"] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    return at


def page_text(at: AppTest) -> str:
    parts = [
        e.value
        for kind in ("markdown", "title", "caption", "header", "subheader", "text")
        for e in at.get(kind)
    ]
    return " ".join(str(p) for p in parts)


def csm_emea(session: Session) -> Actor:
    me = session.exec(select(User.id).where(User.username == "csm.emea")).one()
    return Actor(id=me, username="csm.emea", roles=("csm",))


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
            actor=csm_emea(session),
            customer_id=customer_id,
            subject="Page test: planning model will not open",
            severity=2,
            channel="email",
        )
        session.commit()
        case_id = case.id
    st.cache_data.clear()  # the queue read by an earlier test is cached for 30 s
    yield case_id
    with engine.begin() as connection:
        connection.execute(delete(CaseEvent).where(CaseEvent.case_id == case_id))
        connection.execute(delete(Case).where(Case.id == case_id))


def test_manager_sees_the_whole_queue_in_order_with_a_summary_strip():
    at = queue_page("manager", view="all")
    assert at.title[0].value == "Case queue"
    rows = table(at)
    with Session(db_engine()) as session:
        assert set(rows["case_id"]) == open_case_ids(session)
        tiers = session.exec(select(TierPolicyRow.label)).all()
    assert list(rows["queue_position"]) == list(range(1, len(rows) + 1))
    # The table comes first; the summary is one compact row per tier below it.
    tiles = summary(at)
    assert len(tiles) == len(tiers)
    assert tiles["open"].sum() == len(rows)
    assert tiles["breached"].sum() == (rows["state"] == "🔴 Breached").sum()
    assert (
        rows["countdown"]
        .str.match(
            r"^(.+ left|overdue( by .+)?|Paused: .+|Paused · .+|Excluded: .+|"
            r"Respond now · open .+|due now)$"
        )
        .all()
    )
    assert at.get("download_button")
    text = page_text(at)
    assert "guideline" in text and "guarantee" not in text.lower()
    assert "None" not in set(rows["due_viewer"]) | set(rows["due_local"]) | set(rows["assignee"])


@pytest.fixture
def late_sev1():
    """A severity 1 case of a csm.emea customer answered 40 minutes after opening (goal 15)."""
    engine = db_engine()
    now = datetime.now(UTC)
    with Session(engine) as session:
        customer_id = min(own_customer_ids(session, "csm.emea"))
        case = open_case(
            session=session,
            actor=csm_emea(session),
            customer_id=customer_id,
            subject="Page test: *everything* is down",
            severity=1,
            channel="phone",
            now=now - timedelta(hours=2),
        )
        session.flush()
        record_case_event(
            session=session,
            case_id=case.id,
            actor=csm_emea(session),
            action="public_reply",
            note="On it.",
            now=now - timedelta(hours=2) + timedelta(minutes=40),
        )
        session.commit()
        case_id = case.id
    st.cache_data.clear()  # the queue read by an earlier test is cached for 30 s
    yield case_id
    with engine.begin() as connection:
        connection.execute(delete(CaseEvent).where(CaseEvent.case_id == case_id))
        connection.execute(delete(Case).where(Case.id == case_id))


def test_severity_1_goal_misses_are_not_breaches_and_states_follow_the_shown_clock(late_sev1):
    at = queue_page("manager", view="all")
    rows = table(at)
    late = rows.set_index("case_id").loc[late_sev1]
    assert late["clock_label"] == "Resolution guideline"
    assert late["state"] in {"🟢 On track", "🟠 At risk"}
    assert late["subject"] == "Page test: *everything* is down"  # literal, never Markdown
    sev1 = rows[rows["severity_label"] == "Sev 1 – critical"]
    responding = sev1[sev1["clock_label"] == "Respond now"]
    assert set(responding["state"]) <= {"🚨 Respond now", "🔴 Respond now (goal missed)"}
    # After the first reply the state is the resolution clock's, never a stale first response.
    replied = rows[rows["clock_label"] == "Resolution guideline"]
    assert not (
        replied["state"].eq("🔴 Breached") & replied["countdown"].str.endswith("left")
    ).any()
    assert not (rows["state"].eq("🔴 Breached") & rows["countdown"].str.startswith("Paused:")).any()
    assert summary(at)["breached"].sum() == rows["state"].eq("🔴 Breached").sum()

    # The Portfolio counts the same breaches: the late severity 1 reply is not one of them.
    with Session(db_engine()) as session:
        customer_id = session.get(Case, late_sev1).customer_id
    breached_here = rows[(rows["customer"] == late["customer"]) & rows["state"].eq("🔴 Breached")]
    portfolio = signed_in("manager")
    portfolio.run()
    portfolio.switch_page(page_path("portfolio.py"))
    portfolio.run()
    assert not portfolio.exception
    customers = portfolio.dataframe[0].value.set_index("id")
    assert customers.loc[customer_id, "breaching"] == len(breached_here)
    assert customers["csm"].notna().all() and customers["hypercare_resource"].notna().all()
    assert "Only breaching" in [t.label for t in portfolio.toggle]


def test_csm_sees_only_their_customers_cases():
    at = queue_page("csm.emea", view="all")
    with Session(db_engine()) as session:
        own = own_customer_ids(session, "csm.emea")
        expected = open_case_ids(session, own)
        names = {c.name for c in session.exec(select(Customer)).all() if c.id in own}
    rows = table(at)
    assert expected and set(rows["case_id"]) == expected
    assert set(rows["customer"]) <= names
    assert list(rows["queue_position"]) == list(range(1, len(rows) + 1))


def test_query_params_filter_the_table_and_widgets_write_back():
    everything = table(queue_page("manager", view="all"))
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
    assert [i.value for i in at.info] == ["No open case matches these filters."]
    assert "No solved or closed case matches this search." in page_text(at)


def test_selecting_a_row_offers_to_open_that_case():
    at = queue_page("manager", severity="4")
    rows = table(at)
    select_rows(at, [1])
    chosen = int(rows["case_id"].iloc[1])
    next(b for b in at.button if b.label == f"Open case #{chosen}").click()
    at.run()
    assert not at.exception
    assert at.title[0].value.startswith(f"#{chosen} ")
    assert at.query_params == {"id": str(chosen)}
    # The queue's filters are kept for the way back.
    assert at.session_state["queue_url"] == {"severity": ["4"]}


def test_default_view_is_my_cases_and_unassigned():
    at = queue_page("csm.emea")
    with Session(db_engine()) as session:
        me = session.exec(select(User.id).where(User.username == "csm.emea")).one()
        own = own_customer_ids(session, "csm.emea")
        expected = set(
            session.exec(
                select(Case.id).where(
                    Case.status.in_(OPEN_STATUSES),
                    Case.customer_id.in_(own),
                    (Case.assignee_id == me) | Case.assignee_id.is_(None),
                )
            ).all()
        )
    assert at.selectbox(key="queue_view").value == "mine"
    assert sorted(at.query_params["assignee"]) == sorted([str(me), "none"])
    assert set(table(at)["case_id"]) == expected
    everything = queue_page("csm.emea", view="all")
    assert set(table(everything)["case_id"]) >= expected
    assert "assignee" not in everything.query_params


def test_a_link_with_a_views_filters_shows_that_view():
    """The way back from a case brings the queue's link: with the default view's filters it says
    "My cases and unassigned", not "Filters of your own"; other filters stay one's own."""
    mine = queue_page("csm.emea")
    link = list(mine.query_params["assignee"])
    back = queue_page("csm.emea", assignee=link)
    assert back.selectbox(key="queue_view").value == "mine"
    assert sorted(back.query_params["assignee"]) == sorted(link)
    assert set(table(back)["case_id"]) == set(table(mine)["case_id"])
    other = queue_page("csm.emea", assignee=link[:1])
    assert other.selectbox(key="queue_view").value is None
    assert other.query_params["assignee"] == link[0]


def test_the_default_view_keeps_its_filters_when_a_rerun_sees_an_older_url():
    """A run can stop after the view was applied (its filter states reset) and before the filters
    drew, and the next run's query string can predate the view's URL (`st.rerun()` from the poll
    fragment reuses the query string of the tick that started it). The view still decides."""
    expected = set(table(queue_page("csm.emea"))["case_id"])
    at = signed_in("csm.emea")
    at.run()
    at.switch_page(page_path("case_queue.py"))
    at.session_state["queue_view"] = "mine"  # chosen; no filter state; nothing in the URL
    at.run()
    assert not at.exception
    assert at.selectbox(key="queue_view").value == "mine"
    assert set(table(at)["case_id"]) == expected
    assert sorted(at.multiselect(key="filter_assignee").value) == sorted(
        at.query_params["assignee"]
    )


def test_a_filter_widget_defaults_to_the_value_it_has():
    """If the browser forgets a filter's value, it draws the widget from its default and sends
    that back as a change; an empty default would replace the chosen view with every case."""
    at = queue_page("csm.emea")
    at.run()  # a later run: the values come from the widgets, not from the view
    assert not at.exception and not at.warning
    assignee = at.multiselect(key="filter_assignee")
    assert sorted(assignee.value) == sorted(at.query_params["assignee"])
    assert list(assignee.proto.default) == list(assignee.indices) != []
    severity = at.multiselect(key="filter_severity")
    assert severity.value == [] and list(severity.proto.default) == []
    at.text_input(key="filter_q").input("a").run()
    at.run()
    assert at.text_input(key="filter_q").proto.default == "a"


def test_filters_saved_as_a_named_view_come_back_and_can_be_deleted():
    at = queue_page("csm.na", view="all")
    at.multiselect(key="filter_severity").select("3").run()
    at.text_input(key="filter_q").input("a").run()
    assert at.selectbox(key="queue_view").value is None
    next(t for t in at.text_input if t.label == "Name of the view").input("Sev 3 with a")
    next(b for b in at.button if b.label == "Save").click()
    at.run()
    assert not at.exception and not at.error
    filtered = set(table(at)["case_id"])

    again = queue_page("csm.na", view="all")
    box = again.selectbox(key="queue_view")
    saved = next(option for option in box.options if option == "Sev 3 with a")
    box.select(saved).run()
    assert not again.exception
    assert again.query_params["severity"] == "3" and again.query_params["q"] == "a"
    assert again.multiselect(key="filter_severity").value == ["3"]
    assert set(table(again)["case_id"]) == filtered
    next(b for b in again.button if b.label == "Delete view").click()
    again.run()
    assert not again.exception
    assert "Sev 3 with a" not in again.selectbox(key="queue_view").options
    with Session(db_engine()) as session:
        assert not session.exec(select(SavedView).where(SavedView.name == "Sev 3 with a")).all()


def test_bulk_assign_and_a_refused_bulk_status_change(own_case):
    at = queue_page("csm.emea", view="all")
    rows = table(at)
    with Session(db_engine()) as session:
        me = session.exec(select(User).where(User.username == "csm.emea")).one()
        other_open = session.exec(
            select(Case.id).where(
                Case.customer_id.in_(own_customer_ids(session, "csm.emea")),
                Case.status == "open",
                Case.id != own_case,
            )
        ).first()
    positions = [int(i) for i in rows.index[rows["case_id"].isin([own_case, other_open])]]
    select_rows(at, [list(rows.index).index(i) for i in positions])
    assign = next(s for s in at.selectbox if s.label == "Assign 2 cases to")
    assign.select(str(me.id))
    next(b for b in at.button if b.label == "Assign").click()
    at.run()
    assert not at.exception and not at.error
    with Session(db_engine()) as session:
        assert {session.get(Case, i).assignee_id for i in (own_case, other_open)} == {me.id}

    # own_case is new: it cannot be set pending before a reply, so neither case changes.
    at = queue_page("csm.emea", view="all")
    rows = table(at)
    select_rows(
        at, [int(i) for i in range(len(rows)) if rows["case_id"].iloc[i] in (own_case, other_open)]
    )
    change = next(s for s in at.selectbox if s.label == "Change status of 2 cases")
    change.select("set_pending")
    next(b for b in at.button if b.label == "Apply").click()
    at.run()
    assert [e.value for e in at.error] == [
        f"Nothing was changed, because case #{own_case} was refused: "
        "A new case needs a public reply first."
    ]
    with Session(db_engine()) as session:
        assert session.get(Case, other_open).status == "open"
        assert session.get(Case, own_case).status == "new"


def test_search_also_finds_solved_and_closed_cases():
    with Session(db_engine()) as session:
        done = session.exec(
            select(Case).where(Case.status.in_(["solved", "closed"])).order_by(Case.id)
        ).first()
    at = queue_page("manager", q=f"#{done.id}")
    found = next(
        d.value
        for d in at.dataframe
        if "status_label" in d.value.columns and "opened" in d.value.columns
    )
    assert list(found["case_id"]) == [done.id]
    assert "Solved and closed cases" in [h.value for h in at.subheader]


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
    subject = plain_markdown("Page test: planning model will not open")  # literal
    assert at.title[0].value == f"#{own_case} {subject}"
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
            session=session, case_id=own_case, actor=csm_emea(session), action="solve"
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
        admin = session.exec(select(User).where(User.username == "admin")).one()
        create_user(
            session=session,
            actor=Actor(id=admin.id, username="admin", roles=("admin",)),
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
        assert not at.get("download_button")
    finally:
        with engine.begin() as connection:
            connection.execute(delete(User).where(User.username == "csm.newhire"))
