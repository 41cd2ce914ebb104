"""The Events and programmes page under AppTest: per role, and an offer and an answer recorded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import streamlit as st
from sqlalchemy import delete, func
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from data_access.models import (
    AuditLog,
    Customer,
    EventInvitation,
    EventOffer,
    TierPolicyRow,
    User,
)
from domain.events import INVITATION_LABELS, INVITATION_MOVES
from tests.pages.conftest import db_engine, page_path, signed_in

PAGE = "events.py"
TABLES = (EventInvitation, EventOffer, AuditLog)


def open_page(username: str) -> AppTest:
    st.cache_data.clear()  # AppTest shares this process's cache; tests write around the page
    at = signed_in(username)
    at.run()
    at.switch_page(page_path(PAGE))
    at.run()
    assert not at.exception, at.exception
    return at


@contextmanager
def restoring_rows() -> Iterator[None]:
    """Let a test write through the page, then remove exactly the rows it added."""
    with Session(db_engine()) as session:
        marks = {t: session.exec(select(func.max(t.id))).one() or 0 for t in TABLES}
        statuses = dict(session.exec(select(EventInvitation.id, EventInvitation.status)).all())
    try:
        yield
    finally:
        with db_engine().begin() as connection:
            for table in TABLES:
                connection.execute(delete(table).where(table.id > marks[table]))
            for invitation_id, status in statuses.items():
                connection.execute(
                    EventInvitation.__table__.update()
                    .where(EventInvitation.id == invitation_id)
                    .values(status=status)
                )


def texts(at: AppTest) -> str:
    parts = [str(e.value) for kind in ("title", "caption", "info", "error") for e in at.get(kind)]
    parts += [frame.value.to_csv(index=False) for frame in at.dataframe]
    return " ".join(parts)


def test_survey_staff_are_refused():
    at = signed_in("surveys", page_path(PAGE))
    at.run()
    assert [e.value for e in at.error] == ["Your role does not give access to this page."]
    assert not at.dataframe


def test_the_manager_sees_uptake_offers_and_the_not_eligible_with_their_reason():
    at = open_page("manager")
    assert not at.error
    assert [t.label for t in at.tabs] == ["Uptake", "Events", "Programmes"]
    shown = texts(at)
    assert "CPX 2026" in shown
    with Session(db_engine()) as session:
        basic = session.exec(
            select(Customer.name, TierPolicyRow.label)
            .join(TierPolicyRow, TierPolicyRow.tier == Customer.tier)
            .where(~TierPolicyRow.vip_events)
        ).first()
    assert basic is not None
    assert f"VIP events and product programmes are not part of {basic[1]}." in shown
    assert basic[0] not in at.multiselect(key="offer_customers").options


def test_a_manager_creates_an_event_and_offers_it_from_the_page():
    with restoring_rows():
        at = open_page("manager")
        name_box = next(box for box in at.text_input if box.label == "Name")
        name_box.input("Planning leaders day, Paris")
        date_box = next(box for box in at.date_input if box.label == "Starts on")
        date_box.set_value(date(2027, 6, 1))
        next(b for b in at.button if b.label == "Create event").click()
        at.run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        event_box = at.selectbox(key="offer_event")
        with Session(db_engine()) as session:
            paris = session.exec(
                select(EventOffer).where(EventOffer.name == "Planning leaders day, Paris")
            ).one()
        assert paris.starts_on == date(2027, 6, 1) and paris.offers == "ticket_discount"
        event_box.set_value(paris.id)
        at.run()
        with Session(db_engine()) as session:
            eligible = session.exec(
                select(Customer.id)
                .join(TierPolicyRow, TierPolicyRow.tier == Customer.tier)
                .where(TierPolicyRow.vip_events, Customer.is_active)
                .order_by(Customer.id)
            ).first()
        at.multiselect(key="offer_customers").set_value([eligible])
        next(b for b in at.button if b.label == "Offer to the chosen customers").click()
        at.run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        with Session(db_engine()) as session:
            invited = session.exec(
                select(EventInvitation).where(EventInvitation.event_id == paris.id)
            ).all()
            actions = session.exec(select(AuditLog.action).order_by(AuditLog.id.desc())).all()
        assert len(invited) == 1 and invited[0].status == "offered"
        assert actions[:2] == ["offer_event", "create_event"]
        # The invitations are listed an event at a time: Paris's holds its one customer.
        chooser = at.selectbox(key="invitation_event")
        assert chooser.options[0] == "Planning leaders day, Paris · 1 Jun 2027 · 1 offered"
        chooser.set_value(paris.id)
        at.run()
        with Session(db_engine()) as session:
            name = session.get(Customer, eligible).name
        listed = next(frame.value for frame in at.dataframe if "Offered at" in frame.value.columns)
        assert list(listed["Customer"]) == [name]
        assert set(listed["Event"]) == {"Planning leaders day, Paris"}


def test_a_csm_sees_only_own_customers_and_records_an_answer():
    with Session(db_engine()) as session:
        me = session.exec(select(User.id).where(User.username == "csm.emea")).one()
        own = set(
            session.exec(
                select(Customer.name).where(
                    (Customer.csm_id == me) | (Customer.hypercare_resource_id == me)
                )
            ).all()
        )
        pending = session.exec(
            select(EventInvitation.id, EventInvitation.event_id)
            .join(Customer, Customer.id == EventInvitation.customer_id)
            .where(
                (Customer.csm_id == me) | (Customer.hypercare_resource_id == me),
                EventInvitation.status.in_(["offered", "accepted", "declined"]),
            )
        ).all()
    assert pending, "the demo seed gives csm.emea an invitation to answer"
    with restoring_rows():
        at = open_page("csm.emea")
        assert [t.label for t in at.tabs] == ["Uptake", "Invitations", "Programmes"]
        assert not [b for b in at.button if b.label in ("Create event", "Create programme")]
        invitation_id, event_id = pending[0]
        at.selectbox(key="invitation_event").set_value(event_id)
        at.run()
        listed = set(at.selectbox(key="invitation_customer").options[1:])
        assert listed and listed <= own
        box = at.selectbox(key="answer_invitation")
        # 'Customer · Event · Status', the status in words
        assert all(o.rsplit(" · ", 1)[-1] in INVITATION_LABELS.values() for o in box.options)
        assert all(o.split(" · ", 1)[0] in own for o in box.options)
        box.set_value(invitation_id)
        at.run()
        with Session(db_engine()) as session:
            current = session.get(EventInvitation, invitation_id).status
        # Declining (or accepting after a decline) is allowed whatever the event's date.
        target = "declined" if "declined" in INVITATION_MOVES[current] else "accepted"
        at.radio(key="answer").set_value(target)
        next(b for b in at.button if b.label == "Record").click()
        at.run()
        assert not at.exception, at.exception
        with Session(db_engine()) as session:
            invitation = session.get(EventInvitation, invitation_id)
            audited = session.exec(select(AuditLog.actor).order_by(AuditLog.id.desc())).first()
        assert not at.error and invitation.status == target and audited == "csm.emea"
