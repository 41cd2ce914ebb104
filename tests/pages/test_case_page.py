"""The Case page under AppTest: conversation, actions beside their forms, literal user text.

Each test opens its own case of a csm.na customer (csm.na reads times in America/New_York) and
deletes it afterwards.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pytest
import streamlit as st
from sqlalchemy import delete
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from data_access.actor import Actor
from data_access.case_commands import add_internal_note, open_case, record_case_event
from data_access.cases import case_assignees
from data_access.customers import contacts_of
from data_access.models import AuditLog, Case, CaseEvent, Customer, User
from tests.pages.conftest import db_engine, page_path, signed_in
from ui.format import contact_labels, plain_markdown

DESCRIPTION = "**Bold claim** and a [link](https://example.com)\n# not a heading"


def csm_na(session: Session) -> Actor:
    me = session.exec(select(User).where(User.username == "csm.na")).one()
    return Actor(id=me.id, username=me.username, roles=("csm",))


def own_customer(session: Session) -> Customer:
    me = csm_na(session)
    return session.exec(
        select(Customer).where(Customer.csm_id == me.id).order_by(Customer.id)
    ).first()


@pytest.fixture
def make_case():
    """Open cases for one test (severity, opened minutes ago, optional reply after N minutes)."""
    engine = db_engine()
    made: list[int] = []

    def make(severity: int = 3, *, minutes_ago: float = 5, reply_after: float | None = None):
        now = datetime.now(UTC)
        with Session(engine) as session:
            actor = csm_na(session)
            case = open_case(
                session=session,
                actor=actor,
                customer_id=own_customer(session).id,
                subject="Page test: *everything* is down",
                severity=severity,
                channel="phone",
                description=DESCRIPTION,
                now=now - timedelta(minutes=minutes_ago),
            )
            session.flush()
            if reply_after is not None:
                record_case_event(
                    session=session,
                    actor=actor,
                    case_id=case.id,
                    action="public_reply",
                    note="On it.",
                    now=now - timedelta(minutes=minutes_ago - reply_after),
                )
            session.commit()
            made.append(case.id)
        st.cache_data.clear()
        return made[-1]

    yield make
    with engine.begin() as connection:
        for case_id in made:
            connection.execute(delete(CaseEvent).where(CaseEvent.case_id == case_id))
            connection.execute(delete(Case).where(Case.id == case_id))


def case_page(case_id: int, username: str = "csm.na") -> AppTest:
    at = signed_in(username)
    at.run()
    at.switch_page(page_path("case.py"))
    at.query_params["id"] = str(case_id)
    at.run()
    assert not at.exception
    return at


def page_text(at: AppTest) -> str:
    kinds = ("markdown", "title", "caption", "header", "subheader", "text", "success", "error")
    return "\n".join(str(e.value) for kind in kinds for e in at.get(kind))


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def events_of(case_id: int) -> list[CaseEvent]:
    with Session(db_engine()) as session:
        return list(
            session.exec(
                select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
            ).all()
        )


def text_area(at: AppTest, label: str):
    return next(t for t in at.text_area if t.label == label)


def test_conversation_shows_description_replies_and_notes_each_marked(make_case):
    case_id = make_case(reply_after=2)
    with Session(db_engine()) as session:
        add_internal_note(
            session=session, actor=csm_na(session), case_id=case_id, note="_Called_ the *CTO*"
        )
        session.commit()
    at = case_page(case_id)
    texts = [t.value for t in at.text]
    # User text is shown literally, never as Markdown, in the thread's order.
    assert texts[:3] == [DESCRIPTION, "On it.", "_Called_ the *CTO*"]
    captions = [c.value for c in at.caption]
    marks = [c for c in captions if "Description" in c or "Public reply" in c or "Internal" in c]
    assert [("Description" in m, "Public reply" in m, "Internal note" in m) for m in marks[:3]] == [
        (True, False, False),
        (False, True, False),
        (False, False, True),
    ]
    assert "seen by the customer" in marks[1] and "staff only" in marks[2]
    assert at.title[0].value == f"#{case_id} {plain_markdown('Page test: *everything* is down')}"


def test_reply_and_set_pending_in_one_step_and_the_box_empties(make_case):
    case_id = make_case()
    at = case_page(case_id)
    text_area(at, "First public reply").input("We need your log file.")
    button(at, "Send reply and set pending").click()
    at.run()
    assert not at.exception and not at.error
    assert [(e.kind, e.from_status, e.to_status) for e in events_of(case_id)][1:] == [
        ("public_reply", None, None),
        ("status", "new", "open"),
        ("status", "open", "pending_customer"),
    ]
    assert [s.value for s in at.success] == ["Reply sent; the case is pending the customer."]
    assert text_area(at, "Public reply").value == ""
    assert "Pending customer" in page_text(at)


def test_an_empty_reply_is_refused_beside_the_box(make_case):
    case_id = make_case()
    at = case_page(case_id)
    button(at, "Send first public reply").click()
    at.run()
    assert [e.value for e in at.error] == ["Write the reply before sending it."]
    assert len(events_of(case_id)) == 1


def test_note_box_empties_after_each_action(make_case):
    case_id = make_case(reply_after=1)
    at = case_page(case_id)
    text_area(at, "Internal note").input("Customer prefers calls after 3pm")
    button(at, "Add internal note").click()
    at.run()
    assert [s.value for s in at.success] == ["Internal note added."]
    assert text_area(at, "Internal note").value == ""
    status_note = next(t for t in at.text_input if t.label.startswith("Note for the status"))
    status_note.input("Waiting for the export")
    button(at, "Set pending customer").click()
    at.run()
    assert not at.error
    status_note = next(t for t in at.text_input if t.label.startswith("Note for the status"))
    assert status_note.value == ""
    assert events_of(case_id)[-1].note == "Waiting for the export"
    assert events_of(case_id)[-2].kind == "internal_note"


def test_severity_change_needs_a_reason_and_is_audited(make_case):
    case_id = make_case(severity=3)
    at = case_page(case_id)
    next(s for s in at.selectbox if s.label == "Severity").set_value(1)
    button(at, "Change severity").click()
    at.run()
    assert [e.value for e in at.error] == ["Say why the severity changes."]
    # The form keeps what was chosen after the refusal.
    assert next(s for s in at.selectbox if s.label == "Severity").value == 1
    next(t for t in at.text_input if t.label == "Reason").input("Production planning stopped")
    button(at, "Change severity").click()
    at.run()
    assert not at.error
    assert [s.value for s in at.success] == ["Severity changed to Sev 1 – critical."]
    with Session(db_engine()) as session:
        assert session.get(Case, case_id).severity == 1
        audit = session.exec(
            select(AuditLog).where(
                AuditLog.action == "case_change_severity", AuditLog.entity_id == str(case_id)
            )
        ).one()
    assert json.loads(audit.detail)["reason"] == "Production planning stopped"
    assert audit.actor == "csm.na"


def test_assignment_offers_only_people_who_can_see_the_customer(make_case):
    case_id = make_case()
    at = case_page(case_id)
    with Session(db_engine()) as session:
        customer_id = session.get(Case, case_id).customer_id
        offered = case_assignees(session=session, customer_id=customer_id)
        everyone = session.exec(select(User.id, User.roles)).all()
    picker = next(s for s in at.selectbox if s.label == "Assign to")
    assert set(picker.options) == set(offered["name"])
    csms = [user_id for user_id, roles in everyone if "csm" in roles]
    assert 0 < len(offered) < len(csms)  # other regions' CSMs are not offered
    button(at, "Assign to me").click()
    at.run()
    assert not at.error
    with Session(db_engine()) as session:
        assert session.get(Case, case_id).assignee_id == csm_na(session).id


def test_missing_values_read_as_a_dash_never_none(make_case):
    case_id = make_case()
    engine = db_engine()
    with Session(engine) as session:
        session.add(
            CaseEvent(
                case_id=case_id,
                at=datetime.now(UTC),
                actor_id=None,
                kind="internal_note",
                note="Logged by the portal",
            )
        )
        session.commit()
    at = case_page(case_id)
    timeline = at.dataframe[0].value
    assert "—" in set(timeline["actor"])
    assert not timeline["actor"].isna().any()
    assert "None" not in page_text(at)


def test_severity_1_missing_the_internal_goal_is_not_breached(make_case):
    case_id = make_case(severity=1, minutes_ago=120, reply_after=40)
    text = page_text(case_page(case_id))
    assert "Internal goal missed" in text
    assert "Breached" not in text.split("Resolution guideline")[0]


def test_a_missed_first_response_stays_after_the_reply(make_case):
    case_id = make_case(severity=2, minutes_ago=600, reply_after=300)
    text = page_text(case_page(case_id))
    assert "First response missed" in text and "replied after 5h" in text


def test_resolution_shows_business_time_left_and_due_in_both_zones(make_case):
    case_id = make_case(reply_after=1)
    text = page_text(case_page(case_id))
    resolution = text.split("Resolution guideline")[1]
    assert "(business time)" in resolution or "overdue" in resolution
    assert "(America/New_York)" in resolution and " local " in resolution


def test_timeline_chart_uses_the_viewers_time_zone(make_case):
    case_id = make_case(minutes_ago=30)
    at = case_page(case_id)
    chart = at.get("vega_lite_chart")[0].proto
    spec = json.loads(chart.spec)
    assert spec["encoding"]["x"]["scale"]["type"] == "utc"
    spells = pa.ipc.open_stream(chart.datasets[0].data.data).read_pandas()
    with Session(db_engine()) as session:
        opened = session.get(Case, case_id).opened_at
    # The chart draws wall-clock New York time on a UTC scale, as the table beside it does.
    wall_clock = pd.to_datetime(opened, utc=True).tz_convert("America/New_York")
    assert spells["start"].min() == wall_clock.tz_localize(None).tz_localize("UTC")
    assert "Times in America/New_York." in page_text(at)


def test_new_case_keeps_its_input_after_a_refusal_then_opens_the_case():
    at = signed_in("csm.na")
    at.run()
    at.switch_page(page_path("new_case.py"))
    at.run()
    assert not at.exception and at.title[0].value == "New case"
    contact = next(s for s in at.selectbox if s.label == "The customer's contact")
    with Session(db_engine()) as session:
        customer = session.exec(
            select(Customer.id).where(Customer.csm_id == csm_na(session).id).order_by(Customer.name)
        ).first()
        labels = contact_labels(contacts_of(session=session, customer_id=customer))
    contact.set_value(next(i for i, label in labels.items() if label == contact.options[0]))
    at.text_area[0].input("Planner *cannot* save; called from the **plant**.")
    next(s for s in at.selectbox if s.label == "Severity").set_value(2)
    button(at, "Open case").click()
    at.run()
    assert [e.value for e in at.error] == ["A case needs a subject."]
    assert at.text_area[0].value == "Planner *cannot* save; called from the **plant**."
    assert next(s for s in at.selectbox if s.label == "Severity").value == 2
    at.text_input[0].input("New case test: save fails")
    button(at, "Open case").click()
    at.run()
    assert not at.exception and not at.error
    with Session(db_engine()) as session:
        case = session.exec(select(Case).where(Case.subject == "New case test: save fails")).one()
        first = session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id)).one()
    try:
        assert (case.status, case.severity, case.channel) == ("new", 2, "phone")
        assert first.note.startswith("Reported by ") and first.actor_id is not None
        assert at.title[0].value.startswith(f"#{case.id} ")
        assert [s.value for s in at.success] == ["Case opened."]
    finally:
        with db_engine().begin() as connection:
            connection.execute(delete(CaseEvent).where(CaseEvent.case_id == case.id))
            connection.execute(delete(Case).where(Case.id == case.id))
